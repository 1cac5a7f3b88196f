// A header in no layer: check_layers.cmake must ask for one.
#pragma once
