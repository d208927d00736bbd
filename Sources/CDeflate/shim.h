// libdeflate, the whole-buffer Deflate that libtiff itself uses for a tile written at once: the writer
// compresses a row of tiles on several threads with it, then hands libtiff the bytes.
#include <libdeflate.h>
