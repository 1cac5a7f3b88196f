// Which of an operation's N injection points a fault loop tries.
#pragma once

#include <algorithm>
#include <vector>

namespace dbsafe::test {

// Injection points to try out of `count` (1-based): all of them up to `cap`; above it the first
// and last few (where files are opened, committed, cleaned up) and an even spread between them,
// so a loop stays seconds, not minutes, however many calls an operation makes.
inline std::vector<long> injection_points(long count, long cap) {
    std::vector<long> out;
    if (count <= cap) {
        for (long n = 1; n <= count; ++n) out.push_back(n);
        return out;
    }
    const long edge = std::min(5L, cap / 4);
    const long inner = cap - 2 * edge;  // spread over the calls between the edges
    for (long n = 1; n <= edge; ++n) out.push_back(n);
    for (long i = 1; i <= inner; ++i) out.push_back(edge + i * (count - 2 * edge) / (inner + 1));
    for (long n = count - edge + 1; n <= count; ++n) out.push_back(n);
    return out;
}

}  // namespace dbsafe::test
