// The OpenCL 1.2 API through the ICD loader (libOpenCL.so.1), which dispatches to whichever vendor
// drivers /etc/OpenCL/vendors lists: NVIDIA, PoCL and others all provide 1.2.
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
