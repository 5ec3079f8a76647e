package org.moekit;

/** What an expert run did (moekit_run_report). */
public record RunReport(long assignments, long nonLocalAssignments, long invalidAssignments, int expertsTouched,
    String kernel, String detail) {
  static RunReport of(org.moekit.jni.RunReport r) {
    return new RunReport(r.getAssignments(), r.getNon_local_assignments(), r.getInvalid_assignments(),
        r.getExperts_touched(), r.getKernel(), r.getDetail());
  }
}
