#pragma once

#define DBSAFE_VERSION_MAJOR 0
#define DBSAFE_VERSION_MINOR 1
#define DBSAFE_VERSION_PATCH 0
#define DBSAFE_VERSION_STRING "0.1.0"

namespace dbsafe {
inline constexpr const char* version_string = DBSAFE_VERSION_STRING;
}
