// File names inside a campaign folder, shared by the task log (writer) and the status reader.
#pragma once

#include <string>

namespace posebatch::campaign_files {

std::string Manifest(const std::string& dir);
std::string TasksDir(const std::string& dir);
std::string Heartbeat(const std::string& dir, int task);  // tasks/<I>.json
std::string Events(const std::string& dir, int task);     // tasks/<I>.events.jsonl
std::string TaskLock(const std::string& dir, int task);   // tasks/<I>.lock

}  // namespace posebatch::campaign_files
