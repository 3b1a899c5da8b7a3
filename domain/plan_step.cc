#include "domain/plan_step.h"

namespace jobsync {

const char* ActionName(Action action) {
  switch (action) {
    case Action::kCreate:
      return "create";
    case Action::kScale:
      return "scale";
    case Action::kPatch:
      return "patch";
    case Action::kUpdate:
      return "update";
    case Action::kRerun:
      return "rerun";
    case Action::kDelete:
      return "delete";
    case Action::kNone:
      return "none";
  }
  return "none";
}

}  // namespace jobsync
