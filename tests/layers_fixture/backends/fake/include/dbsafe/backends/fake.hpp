// A backend that uses detail/ instead of the public API: check_layers.cmake must refuse it.
#pragma once
#include "dbsafe/detail/posix_file.hpp"
#include "dbsafe/storage/file_operations.hpp"
