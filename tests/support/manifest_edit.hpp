// Rewrites a manifest's manifest_checksum after a test edited its fields, as a tamperer who
// knows the format can (the checksum is not a secret): the edit then reaches the checks behind
// the manifest's own (data checksum, SHA-256 seal, archive size) instead of stopping there.
#pragma once

#include <dbsafe/manifest.hpp>
#include <nlohmann/json.hpp>

namespace dbsafe::test {

inline void reseal_manifest(nlohmann::json& j) {
    const checksum self = manifest_self_checksum(j);
    j["manifest_checksum"] = {{"algorithm", self.algorithm}, {"hex", self.hex}};
}

}  // namespace dbsafe::test
