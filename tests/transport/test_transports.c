#include "integ.h"
