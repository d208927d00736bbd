#include "tiff_bridge.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <geotiff/geotiff.h>
#include <geotiff/geotiffio.h>
#include <geotiff/xtiffio.h>

enum { TR_TAG_GDAL_METADATA = 42112, TR_TAG_GDAL_NODATA = 42113 };

static const TIFFFieldInfo tr_gdal_fields[] = {
    {TR_TAG_GDAL_METADATA, -1, -1, TIFF_ASCII, FIELD_CUSTOM, 1, 0, "GDALMetadata"},
    {TR_TAG_GDAL_NODATA, -1, -1, TIFF_ASCII, FIELD_CUSTOM, 1, 0, "GDALNoDataValue"},
};

static TIFFExtendProc tr_parent_extender = NULL;

static void tr_extender(TIFF *tif) {
    TIFFMergeFieldInfo(tif, tr_gdal_fields, sizeof(tr_gdal_fields) / sizeof(tr_gdal_fields[0]));
    if (tr_parent_extender) tr_parent_extender(tif);
}

static pthread_once_t tr_once = PTHREAD_ONCE_INIT;

static void tr_register_tags(void) {
    XTIFFInitialize(); // libgeotiff's extender for the GeoTIFF tags
    tr_parent_extender = TIFFSetTagExtender(tr_extender);
    // Process-wide handlers stay silent; per-handle handlers below capture what matters.
    TIFFSetWarningHandler(NULL);
    TIFFSetErrorHandler(NULL);
}

static int tr_error_handler(TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    tr_diagnostics *diag = (tr_diagnostics *)user_data;
    if (!diag) return 1;
    char message[400];
    vsnprintf(message, sizeof message, fmt, ap);
    if (module && *module)
        snprintf(diag->last_error, sizeof diag->last_error, "%s: %s", module, message);
    else
        snprintf(diag->last_error, sizeof diag->last_error, "%s", message);
    if (diag->error_count == 0) memcpy(diag->first_error, diag->last_error, sizeof diag->first_error);
    diag->error_count++;
    return 1;
}

static int tr_warning_handler(TIFF *tif, void *user_data, const char *module, const char *fmt, va_list ap) {
    (void)tif; (void)module; (void)fmt; (void)ap;
    tr_diagnostics *diag = (tr_diagnostics *)user_data;
    if (diag) diag->warning_count++;
    return 1;
}

TIFF *tr_open(const char *path, const char *mode, tr_diagnostics *diag, int64_t max_single_alloc) {
    pthread_once(&tr_once, tr_register_tags);
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts) return NULL;
    if (max_single_alloc > 0) TIFFOpenOptionsSetMaxSingleMemAlloc(opts, (tmsize_t)max_single_alloc);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tr_error_handler, diag);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tr_warning_handler, diag);
    TIFF *tif = TIFFOpenExt(path, mode, opts);
    TIFFOpenOptionsFree(opts);
    return tif;
}

int tr_get_u16(TIFF *tif, uint32_t tag, uint16_t *value) { return TIFFGetField(tif, tag, value); }
int tr_get_u32(TIFF *tif, uint32_t tag, uint32_t *value) { return TIFFGetField(tif, tag, value); }
int tr_get_u64(TIFF *tif, uint32_t tag, uint64_t *value) { return TIFFGetField(tif, tag, value); }
int tr_get_double(TIFF *tif, uint32_t tag, double *value) { return TIFFGetField(tif, tag, value); }

int tr_get_string(TIFF *tif, uint32_t tag, const char **value) {
    char *v = NULL;
    int ok = TIFFGetField(tif, tag, &v);
    *value = v;
    return ok && v != NULL;
}

int tr_get_u16_array(TIFF *tif, uint32_t tag, uint16_t *count, const uint16_t **values) {
    uint16_t *v = NULL;
    int ok = TIFFGetField(tif, tag, count, &v);
    *values = v;
    return ok && v != NULL;
}

int tr_get_double_array(TIFF *tif, uint32_t tag, uint16_t *count, const double **values) {
    double *v = NULL;
    int ok = TIFFGetField(tif, tag, count, &v);
    *values = v;
    return ok && v != NULL;
}

int tr_get_extrasamples(TIFF *tif, uint16_t *count, const uint16_t **kinds) {
    uint16_t *v = NULL;
    int ok = TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, count, &v);
    *kinds = v;
    return ok;
}

int tr_get_subifds(TIFF *tif, uint16_t *count, const uint64_t **offsets) {
    uint64_t *v = NULL;
    int ok = TIFFGetField(tif, TIFFTAG_SUBIFD, count, &v);
    *offsets = v;
    return ok;
}

int tr_get_colormap(TIFF *tif, const uint16_t **red, const uint16_t **green, const uint16_t **blue) {
    uint16_t *r = NULL, *g = NULL, *b = NULL;
    int ok = TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b);
    *red = r; *green = g; *blue = b;
    return ok && r && g && b;
}

int tr_get_u16_pair(TIFF *tif, uint32_t tag, uint16_t *a, uint16_t *b) { return TIFFGetField(tif, tag, a, b); }

int tr_set_u16(TIFF *tif, uint32_t tag, uint16_t value) { return TIFFSetField(tif, tag, value); }
int tr_set_u32(TIFF *tif, uint32_t tag, uint32_t value) { return TIFFSetField(tif, tag, value); }
int tr_set_int(TIFF *tif, uint32_t tag, int value) { return TIFFSetField(tif, tag, value); }
int tr_set_double(TIFF *tif, uint32_t tag, double value) { return TIFFSetField(tif, tag, value); }
int tr_set_string(TIFF *tif, uint32_t tag, const char *value) { return TIFFSetField(tif, tag, value); }
int tr_set_u16_array(TIFF *tif, uint32_t tag, uint16_t count, const uint16_t *values) {
    return TIFFSetField(tif, tag, count, values);
}
int tr_set_double_array(TIFF *tif, uint32_t tag, uint16_t count, const double *values) {
    return TIFFSetField(tif, tag, count, values);
}
int tr_set_extrasamples(TIFF *tif, uint16_t count, const uint16_t *kinds) {
    return TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, count, kinds);
}
int tr_set_colormap(TIFF *tif, const uint16_t *red, const uint16_t *green, const uint16_t *blue) {
    return TIFFSetField(tif, TIFFTAG_COLORMAP, red, green, blue);
}

struct tr_geokeys { GTIF *gtif; };

static void tr_geotiff_silent(GTIF *gtif, int level, const char *fmt, ...) {
    (void)gtif; (void)level; (void)fmt;
}

tr_geokeys *tr_geokeys_open(TIFF *tif) {
    GTIF *gtif = GTIFNewEx(tif, tr_geotiff_silent, NULL);
    if (!gtif) return NULL;
    tr_geokeys *keys = (tr_geokeys *)calloc(1, sizeof *keys);
    if (!keys) { GTIFFree(gtif); return NULL; }
    keys->gtif = gtif;
    return keys;
}

void tr_geokeys_close(tr_geokeys *keys) {
    if (!keys) return;
    GTIFFree(keys->gtif);
    free(keys);
}

int tr_geokey_short(tr_geokeys *keys, int key, unsigned short *value) {
    int size = 0; tagtype_t type;
    if (!GTIFKeyInfo(keys->gtif, (geokey_t)key, &size, &type) || type != TYPE_SHORT) return 0;
    return GTIFKeyGetSHORT(keys->gtif, (geokey_t)key, value, 0, 1) == 1;
}

int tr_geokey_double(tr_geokeys *keys, int key, double *value) {
    int size = 0; tagtype_t type;
    if (!GTIFKeyInfo(keys->gtif, (geokey_t)key, &size, &type) || type != TYPE_DOUBLE) return 0;
    return GTIFKeyGetDOUBLE(keys->gtif, (geokey_t)key, value, 0, 1) == 1;
}

int tr_geokey_ascii(tr_geokeys *keys, int key, char *buffer, int size) {
    int count = 0; tagtype_t type;
    if (size <= 0) return 0;
    buffer[0] = 0;
    if (!GTIFKeyInfo(keys->gtif, (geokey_t)key, &count, &type) || type != TYPE_ASCII) return 0;
    return GTIFKeyGetASCII(keys->gtif, (geokey_t)key, buffer, size) > 0;
}
