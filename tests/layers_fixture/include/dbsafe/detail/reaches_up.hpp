// A detail header that needs the manifest: check_layers.cmake must refuse it.
#pragma once
#include "dbsafe/error.hpp"
#include "dbsafe/manifest.hpp"
