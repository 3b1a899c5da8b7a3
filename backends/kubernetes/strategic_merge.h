// Strategic merge patch (the patch type application/strategic-merge-patch+json) of a core/v1
// PodTemplateSpec ({metadata, spec}), as Kubernetes documents it: what kubernetes.podTemplatePatch
// means. Pure, thread-safe.
//
// Rules, applied recursively from the PodTemplateSpec down:
//   - maps merge key by key; a key whose patch value is null is deleted;
//   - a list with a patch merge key merges element by element on that key, elements of the patch
//     with a new key appended in patch order (the original's order kept otherwise): containers,
//     initContainers, ephemeralContainers, volumes, imagePullSecrets, resourceClaims and
//     schedulingGates by name; hostAliases by ip; topologySpreadConstraints by topologyKey;
//     a container's env by name, volumeMounts by mountPath, volumeDevices by devicePath and ports
//     by containerPort; metadata.ownerReferences by uid; metadata.finalizers (strings) as a set;
//   - every other list (tolerations, envFrom, args, command, affinity's terms, ...) is replaced;
//   - directives: {"$patch": "replace"} in a map replaces the map with the rest of the patch map;
//     {"$patch": "delete"} deletes the map; in a merged list, an element {"$patch": "replace"}
//     replaces the list with the patch's other elements, and {<key>: v, "$patch": "delete"}
//     deletes the element with key v.
// Other directives ($setElementOrder, $retainKeys, $deleteFromPrimitiveList) are refused with
// kInvalidArgument, as are a merged list's elements that are not objects or lack the merge key.
#ifndef JOBSYNC_BACKENDS_KUBERNETES_STRATEGIC_MERGE_H_
#define JOBSYNC_BACKENDS_KUBERNETES_STRATEGIC_MERGE_H_

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace jobsync {

// `original` (a PodTemplateSpec object) with `patch` (an object) merged over it. Errors name the
// path in the patch ("spec.containers[1]") and what to change.
StatusOr<nlohmann::json> StrategicMergePodTemplate(const nlohmann::json& original,
                                                   const nlohmann::json& patch);

}  // namespace jobsync

#endif  // JOBSYNC_BACKENDS_KUBERNETES_STRATEGIC_MERGE_H_
