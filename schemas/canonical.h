// The canonical form of a TrainingJob: the one JSON spelling of what jobsync applies for a job,
// so that manifests that mean the same thing compare, hash and store identically.
//
// Canonical means:
//   - the manifest's shape ({apiVersion, kind, metadata, spec}), so the canonical JSON of a job is
//     itself a valid manifest (except for an ElasticJob run in operator mode, whose
//     spec.kubernetes.workload "elasticjob" and spec.kubernetes.elasticJob, the ElasticJob's own
//     spec, no manifest may write);
//   - every defaulted field present with its value (namespace "default", suspend false) and every
//     list or map field present, empty when unset; optional scalars (image on Ray, minReplicas,
//     resources) absent when unset;
//   - maps ordered by key (nlohmann::json objects are), dependsOn sorted (it is a set);
//   - quantities spelt by value, not as written: cpu as whole cores ("4") or millicores ("500m"),
//     memory with the largest exact binary suffix ("1Gi"), else decimal suffix ("1G"), else plain
//     bytes, or thousandths ("500m") when fractional. So "1Gi" and "1024Mi" both become "1Gi", and
//     cpu "1" and "1000m" both become "1". Values that are not a whole number of thousandths or
//     are above 2^53 units are spelt exactly instead: nano-units ("1500000n" for "1500u") or
//     "<digits>e<exponent>". Equal quantities (Kubernetes' Cmp) always give the same spelling and
//     unequal ones never do;
//   - metadata name, namespace, labels and annotations included (they are applied with the job);
//     the source location excluded (moving a manifest to another file changes nothing).
//
// All functions are pure and thread-safe.
#ifndef JOBSYNC_SCHEMAS_CANONICAL_H_
#define JOBSYNC_SCHEMAS_CANONICAL_H_

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "schemas/model.h"

namespace jobsync {

// Returns the canonical JSON of `job`. Two jobs that mean the same thing give equal JSON.
nlohmann::json CanonicalSpec(const TrainingJob& job);

// Returns CanonicalSpec(job) dumped compactly (keys ordered, no whitespace, invalid UTF-8 replaced
// by U+FFFD): the text SpecHash hashes and a backend stores as the applied spec.
std::string CanonicalSpecText(const TrainingJob& job);

// Rebuilds a job from canonical JSON, as a backend reads back the spec it applied. Accepts any
// JSON that CanonicalSpec produced, and also tolerates absent list/map fields (taken as empty)
// and absent defaulted fields. Fails with kInvalidArgument, naming the field, when apiVersion or
// kind differ from this version's, when a required field is missing or when a field has the wrong
// type or an unparseable quantity. The result has an empty source location.
// Round trip: CanonicalSpec(*TrainingJobFromCanonical(CanonicalSpec(job))) == CanonicalSpec(job).
StatusOr<TrainingJob> TrainingJobFromCanonical(const nlohmann::json& canonical);

// Parses `text` as JSON, then as TrainingJobFromCanonical does. Fails with kInvalidArgument when
// the text is not JSON. Never throws.
StatusOr<TrainingJob> TrainingJobFromCanonicalText(std::string_view text);

// Returns the lower-case hex SHA-256 (64 characters) of CanonicalSpecText(job): equal for jobs
// that mean the same thing, different for any applied change. Uses OpenSSL's EVP interface;
// aborts the process if OpenSSL cannot compute SHA-256 at all (a broken installation, which no
// caller could work around).
std::string SpecHash(const TrainingJob& job);

// The lower-case hex SHA-256 of `canonical_text`: SpecHash(job) is
// CanonicalTextHash(CanonicalSpecText(job)), so an applied spec's text hashes as its job does.
std::string CanonicalTextHash(std::string_view canonical_text);

// The SHA-256 digest of `parts` one after another, aborting as SpecHash does: CanonicalTextHash's,
// and SharedSpecs' keys.
std::array<unsigned char, 32> Sha256(std::initializer_list<std::string_view> parts);

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_CANONICAL_H_
