// Validates a manifest document against schemas/trainingjob.schema.json, which is embedded in
// the binary at build time. This is the only file in jobsync that uses valijson.
#ifndef JOBSYNC_SCHEMAS_SCHEMA_VALIDATOR_H_
#define JOBSYNC_SCHEMAS_SCHEMA_VALIDATOR_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "schemas/diagnostic.h"
#include "schemas/yaml_reader.h"

namespace jobsync {

// The schema text, as committed in schemas/trainingjob.schema.json.
std::string_view TrainingJobSchemaText();

// Checks documents against the TrainingJob schema and words every violation for a person:
// what is wrong, at which line and column of the file, and a hint where one helps.
// Construction parses the schema once; Validate is const and safe to call from several threads.
class SchemaValidator {
 public:
  SchemaValidator();
  ~SchemaValidator();
  SchemaValidator(const SchemaValidator&) = delete;
  SchemaValidator& operator=(const SchemaValidator&) = delete;

  // Returns every violation of `document` (the JSON form of `root`), located in `path`.
  // Empty when the document conforms.
  std::vector<Diagnostic> Validate(const nlohmann::json& document, const YamlNode& root,
                                   const std::string& path) const;

  // The parsed schema, for tools that document it.
  const nlohmann::json& schema() const;

  // The schema's "pattern" rules that this validator cannot check (each pattern is matched by a
  // hand-written loop, never a regular expression, so that no input can exhaust the stack).
  // Empty in a correct build; a pattern added to the schema needs its matcher first.
  std::vector<std::string> PatternsWithoutMatcher() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_SCHEMA_VALIDATOR_H_
