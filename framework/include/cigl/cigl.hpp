#pragma once
/// Umbrella header of the plugin SDK.
#include "cigl/component.hpp"
#include "cigl/dataset.hpp"
#include "cigl/distribution.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "cigl/metric.hpp"
#include "cigl/model.hpp"
#include "cigl/params.hpp"
#include "cigl/plugin.hpp"
#include "cigl/schedule.hpp"
#include "cigl/sparse.hpp"
