// One input of an Analyzer run: a video (skip if done, resume plan, writers, pipeline, meta,
// commit) or a run of images. The Analyzer owns what these borrow.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "analyze/resume_plan.h"
#include "posebatch/analyze.h"
#include "posebatch/pipeline.h"

namespace posebatch {

// What RunVideo and RunImages borrow from the Analyzer; all non-null except where noted.
struct RunInputContext {
  Model* model = nullptr;
  const AnalyzeOptions* options = nullptr;  // pipeline.batch_size is the one to use
  const std::string* scorer = nullptr;
  const BoxProvider* boxes = nullptr;             // may be null
  const ConditionProvider* conditions = nullptr;  // may be null
  Model* conditions_model = nullptr;              // may be null
  const std::atomic<bool>* cancel = nullptr;
  MessageSink say;
};

// Analyses one video into <OutputBase>.h5 (and the other files the options ask for). Never
// throws: failures are in the result's status, with no partial output left.
InputResult RunVideo(const RunInputContext& c, const std::string& video, const std::string& model_fingerprint);

// Analyses images together into image_predictions_<scorer>.h5 (DeepLabCut's analyze_images).
InputResult RunImages(const RunInputContext& c, const std::vector<std::string>& images);

}  // namespace posebatch
