// Sub-commands of the moekit tool and the tiny argument parser they share.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace moekit_cli {

// "--key value" and "--flag" options after the sub-command.
struct Args {
  std::map<std::string, std::string> options;
  std::string get(const std::string& key, const std::string& fallback) const;
  long long get_int(const std::string& key, long long fallback) const;
  bool has(const std::string& key) const { return options.count(key) != 0; }
};

// Returns false (after printing why) on a malformed command line or an option not in `known`.
bool parse_args(int argc, char** argv, int first, const std::vector<std::string>& known, Args& out);

int cmd_info(const Args& args);
int cmd_run(const Args& args);
// `command_line` is recorded in the JSON it writes.
int cmd_bench(const Args& args, const std::string& command_line);

}  // namespace moekit_cli
