// libpng's simplified API (png_image_*): it catches libpng's longjmp errors inside libpng and reports
// them in png_image.message, so no longjmp ever crosses into Swift.
#include <png.h>

/// An upper bound on the encoded size of `image` (PNG_IMAGE_PNG_SIZE_MAX, a macro Swift cannot import),
/// so png_image_write_to_memory compresses once into a buffer that is large enough.
static inline png_alloc_size_t tr_png_size_max(const png_image *image) {
    return PNG_IMAGE_PNG_SIZE_MAX(*image);
}
