// Character classes of the ASCII text manifests, names and quantities are made of. Unlike
// <cctype>, these do not depend on the C locale, and take a plain char.
#ifndef JOBSYNC_SCHEMAS_ASCII_H_
#define JOBSYNC_SCHEMAS_ASCII_H_

namespace jobsync {

// '0' to '9'.
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace jobsync

#endif  // JOBSYNC_SCHEMAS_ASCII_H_
