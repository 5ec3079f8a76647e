package org.moekit;

/** The backend's block sizes, alignments and paddings (moekit_platform_contract). */
public record PlatformContract(int blockSizeM, int hiddenAlign, int intermediateAlign, int bufferAlignBytes,
    int mxBlock, int fp8Block) {}
