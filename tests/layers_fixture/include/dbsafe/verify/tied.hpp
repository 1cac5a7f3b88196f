// A verifier that reaches into the storage policy: check_layers.cmake must refuse it.
#pragma once
#include "dbsafe/storage/storage_target.hpp"
#include "dbsafe/verify/verifier.hpp"
