/* brownout: the whole public API. */
#ifndef BROWNOUT_BROWNOUT_H
#define BROWNOUT_BROWNOUT_H

#include <brownout/status.h>
#include <brownout/tensor.h>
#include <brownout/model.h>
#include <brownout/engine.h>
#include <brownout/dataset.h>
#include <brownout/fault.h>
#include <brownout/norm.h>
#include <brownout/sweep.h>

#define BO_VERSION "0.4.0"

#endif
