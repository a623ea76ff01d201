/* Calls every function of the fringewatch C ABI, success and error paths, on a simulated scene.
 * Usage: smoke SCENE_DIR WORK_DIR HEADING_DEG   (run by tests/c_abi.rs under valgrind)
 * Prints "ALL CHECKS PASSED" and exits 0 when every check holds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fringewatch.h"

static int failures = 0;

#define CHECK(cond, what)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "CHECK FAILED line %d: %s (last error: %s)\n", \
                    __LINE__, what, fw_last_error());                       \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define EXPECT_STATUS(call, expected)                                            \
    do {                                                                         \
        FwStatus got_ = (call);                                                  \
        if (got_ != (expected)) {                                                \
            fprintf(stderr, "line %d: %s gave %s, expected %s (last error: %s)\n", \
                    __LINE__, #call, fw_status_name(got_), fw_status_name(expected), \
                    fw_last_error());                                            \
            failures++;                                                          \
        }                                                                        \
    } while (0)

struct progress_log {
    int reports;
    double last_fraction;
    int cancel_after; /* cancel once this many reports were seen; -1: never */
    int polls;
};

static void on_progress(double fraction, const char *message, void *user_data) {
    struct progress_log *log = (struct progress_log *)user_data;
    log->reports++;
    log->last_fraction = fraction;
    (void)message;
}

static int on_cancel(void *user_data) {
    struct progress_log *log = (struct progress_log *)user_data;
    log->polls++;
    return log->cancel_after >= 0 && log->polls > log->cancel_after;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = (char *)malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: smoke SCENE_DIR WORK_DIR HEADING_DEG\n");
        return 2;
    }
    const char *scene = argv[1];
    const char *work = argv[2];
    double heading = atof(argv[3]);
    char *phase = join(scene, "phase.tif");
    char *coherence = join(scene, "coherence.tif");
    char *dem = join(scene, "dem.tif");
    char *incidence = join(scene, "incidence.tif");
    char *inventory = join(scene, "inventory.gpkg");
    char *isl = join(work, "isl.tif");
    char *pc1 = join(work, "pc1.tif");
    char *stack = join(work, "stack.tif");
    char *cancelled_stack = join(work, "cancelled_stack.tif");
    char *results = join(work, "results.gpkg");
    char *cancelled_gpkg = join(work, "cancelled.gpkg");
    char *broken_model = join(work, "broken.onnx");
    char *json = NULL;

    /* version and build info */
    const char *version = NULL;
    EXPECT_STATUS(fw_version(&version), FW_OK);
    CHECK(version != NULL && strlen(version) > 0, "version string");
    EXPECT_STATUS(fw_version(NULL), FW_INVALID_ARGUMENT);
    CHECK(strstr(fw_last_error(), "version") != NULL, "message names the argument");
    EXPECT_STATUS(fw_build_info(&json), FW_OK);
    CHECK(json != NULL && strstr(json, "\"gdal\"") != NULL, "build info has GDAL");
    printf("build info: %s\n", json);
    fw_string_free(json);
    json = NULL;
    fw_string_free(NULL);
    CHECK(strcmp(fw_status_name(FW_CANCELLED), "FW_CANCELLED") == 0, "status names");
    CHECK(strcmp(fw_status_name(99), "FW_UNKNOWN_STATUS") == 0, "an unknown status is named");

    /* ISL: error paths, then the real run */
    EXPECT_STATUS(fw_compute_isl(NULL, coherence, incidence, NAN, heading, isl, NULL, NULL),
                  FW_INVALID_ARGUMENT);
    CHECK(strstr(fw_last_error(), "dem") != NULL, "NULL dem named");
    EXPECT_STATUS(fw_compute_isl("/nonexistent/dem.tif", coherence, incidence, NAN, heading,
                                 isl, NULL, NULL),
                  FW_NOT_FOUND);
    CHECK(strstr(fw_last_error(), "/nonexistent/dem.tif") != NULL, "missing file named");
    EXPECT_STATUS(fw_compute_isl(dem, coherence, NULL, 95.0, heading, isl, NULL, NULL),
                  FW_INVALID_ARGUMENT);
    CHECK(!exists(isl), "nothing written on a bad incidence");
    EXPECT_STATUS(fw_compute_isl(dem, coherence, NULL, NAN, heading, isl, NULL, NULL),
                  FW_INVALID_ARGUMENT);
    CHECK(strstr(fw_last_error(), "incidence_deg") != NULL, "no incidence at all: both ways named");
    CHECK(!exists(isl), "nothing written without an incidence");
    struct progress_log log = {0, 0.0, -1, 0};
    FwCallbacks callbacks = {sizeof(FwCallbacks), on_progress, on_cancel, &log};
    EXPECT_STATUS(fw_compute_isl(dem, coherence, incidence, NAN, heading, isl, &callbacks, &json),
                  FW_OK);
    CHECK(json != NULL && strstr(json, "mean_isl") != NULL, "ISL summary");
    CHECK(log.reports > 0 && log.last_fraction == 1.0, "ISL progress reaches 1");
    CHECK(strcmp(fw_last_error(), "") == 0, "no error after success");
    fw_string_free(json);
    json = NULL;

    /* PC1 */
    EXPECT_STATUS(fw_compute_pc1(dem, NULL, pc1, false, NULL, &json), FW_OK);
    CHECK(json != NULL && strstr(json, "loadings") != NULL, "PC1 report");
    fw_string_free(json);
    json = NULL;
    char *no_dir = join(work, "missing_dir/pc1.tif");
    EXPECT_STATUS(fw_compute_pc1(dem, NULL, no_dir, false, NULL, NULL), FW_OUTPUT_ERROR);
    CHECK(strstr(fw_last_error(), "does not exist") != NULL, "missing directory named");
    free(no_dir);

    /* stack: cancelled first (nothing left behind), then built */
    struct progress_log cancel_log = {0, 0.0, 0, 0};
    FwCallbacks cancelling = {sizeof(FwCallbacks), on_progress, on_cancel, &cancel_log};
    EXPECT_STATUS(fw_build_stack(phase, isl, pc1, cancelled_stack, false, &cancelling),
                  FW_CANCELLED);
    CHECK(!exists(cancelled_stack), "cancelled stack not written");
    /* a host built against an older header: its FwCallbacks ends after `size`, so the cancel
       callback past it is not the host's and is not called */
    struct progress_log older_log = {0, 0.0, 0, 0};
    FwCallbacks older = {offsetof(FwCallbacks, progress), on_progress, on_cancel, &older_log};
    EXPECT_STATUS(fw_build_stack(phase, isl, pc1, stack, false, &older), FW_OK);
    CHECK(older_log.reports == 0, "members past an older size are not used");
    older.size = 3;
    EXPECT_STATUS(fw_build_stack(phase, isl, pc1, cancelled_stack, false, &older),
                  FW_INVALID_ARGUMENT);
    CHECK(strstr(fw_last_error(), "FwCallbacks.size is 3") != NULL, "a size inside a member");

    /* detector: broken model, missing model, then the bundled default */
    FILE *f = fopen(broken_model, "w");
    fputs("not an onnx file", f);
    fclose(f);
    FwDetector *detector = (FwDetector *)1;
    EXPECT_STATUS(fw_detector_open(broken_model, FW_BACKEND_CPU, &detector), FW_BAD_INPUT);
    CHECK(detector == NULL, "no detector on error");
    printf("broken model: %s\n", fw_last_error());
    EXPECT_STATUS(fw_detector_open("/nonexistent/m.onnx", FW_BACKEND_CPU, &detector),
                  FW_NOT_FOUND);
    EXPECT_STATUS(fw_detector_open(NULL, FW_BACKEND_AUTO, NULL), FW_INVALID_ARGUMENT);
    EXPECT_STATUS(fw_detector_open(NULL, 99, &detector), FW_INVALID_ARGUMENT);
    CHECK(detector == NULL && strstr(fw_last_error(), "not an FwBackend") != NULL,
          "an unknown backend is refused");
    EXPECT_STATUS(fw_detector_open(NULL, FW_BACKEND_AUTO, &detector), FW_OK);
    CHECK(detector != NULL, "detector opened");
    EXPECT_STATUS(fw_detector_info(detector, &json), FW_OK);
    CHECK(json != NULL && strstr(json, "fringewatch-default") != NULL, "bundled model info");
    printf("detector: %s\n", json);
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_detector_info(NULL, &json), FW_INVALID_ARGUMENT);

    FwDetectOptions options;
    EXPECT_STATUS(fw_detect_options_default(&options), FW_OK);
    CHECK(options.confidence < 0 && options.iou > 0.4 && options.overlap == 32, "defaults");
    CHECK(options.size == sizeof(FwDetectOptions), "defaults set the size");
    CHECK(options.augment == FW_AUGMENT_OFF, "no test-time augmentation by default");
    EXPECT_STATUS(fw_detect_options_default(NULL), FW_INVALID_ARGUMENT);

    /* detection from the stack: cancelled (nothing written), bad stack, then real */
    struct progress_log cancel_detect = {0, 0.0, 1, 0};
    FwCallbacks cancel_cb = {sizeof(FwCallbacks), on_progress, on_cancel, &cancel_detect};
    EXPECT_STATUS(fw_detect_stack(detector, stack, cancelled_gpkg, "detections", &options,
                                  &cancel_cb, &json),
                  FW_CANCELLED);
    CHECK(json == NULL, "no summary on cancel");
    CHECK(!exists(cancelled_gpkg), "cancelled GeoPackage not written");
    EXPECT_STATUS(fw_detect_stack(detector, phase, results, "detections", &options, NULL, NULL),
                  FW_BAD_INPUT);
    printf("one-band stack: %s\n", fw_last_error());
    options.confidence = 1.5;
    EXPECT_STATUS(fw_detect_stack(detector, stack, results, "detections", &options, NULL, NULL),
                  FW_INVALID_ARGUMENT);
    options.confidence = -1.0;
    options.augment = 7;
    EXPECT_STATUS(fw_detect_stack(detector, stack, results, "detections", &options, NULL, NULL),
                  FW_INVALID_ARGUMENT);
    /* refused before any work: the layer written next is not "already" there */
    CHECK(strstr(fw_last_error(), "not an FwAugment") != NULL, "unknown augment refused");
    options.augment = FW_AUGMENT_SIGN;
    struct progress_log detect_log = {0, 0.0, -1, 0};
    FwCallbacks detect_cb = {sizeof(FwCallbacks), on_progress, on_cancel, &detect_log};
    EXPECT_STATUS(fw_detect_stack(detector, stack, results, "detections", &options, &detect_cb,
                                  &json),
                  FW_OK);
    CHECK(json != NULL, "detection summary");
    const char *count = json ? strstr(json, "\"detections\":") : NULL;
    CHECK(count != NULL, "count in summary");
    if (count) printf("detections in stack run: %d\n", atoi(count + strlen("\"detections\":")));
    printf("summary: %s\n", json);
    fw_string_free(json);
    json = NULL;
    CHECK(detect_log.last_fraction == 1.0, "detection progress reaches 1");
    EXPECT_STATUS(fw_detect_stack(detector, stack, results, "detections", &options, NULL, NULL),
                  FW_OUTPUT_ERROR);
    CHECK(strstr(fw_last_error(), "already exists") != NULL, "existing layer refused");
    /* older options (up to `iou`): `overwrite` past the size keeps its default, false */
    FwDetectOptions older_options = options;
    older_options.size = offsetof(FwDetectOptions, overlap);
    older_options.overwrite = true;
    EXPECT_STATUS(fw_detect_stack(detector, stack, results, "detections", &older_options, NULL,
                                  NULL),
                  FW_OUTPUT_ERROR);
    CHECK(strstr(fw_last_error(), "already exists") != NULL, "overwrite past the size ignored");
    older_options.size = sizeof(FwDetectOptions) + 8;
    EXPECT_STATUS(fw_detect_stack(detector, stack, results, "detections", &older_options, NULL,
                                  NULL),
                  FW_INVALID_ARGUMENT);
    CHECK(strstr(fw_last_error(), "newer fringewatch.h") != NULL, "a newer header is refused");

    /* end to end from raw layers */
    /* heading NaN: the one the phase records */
    FwRawLayers raw = {sizeof(FwRawLayers), phase, coherence, dem, incidence, NAN, NAN};
    EXPECT_STATUS(fw_detect_interferogram(detector, &raw, results, "end_to_end", NULL, NULL, &json),
                  FW_OK);
    CHECK(json != NULL && strstr(json, "\"heading_from_data\":true") != NULL,
          "heading from the phase");
    printf("end to end: %s\n", json);
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_detect_interferogram(detector, NULL, results, "x", NULL, NULL, NULL),
                  FW_INVALID_ARGUMENT);

    /* a NULL layer name on a GeoPackage with two detection layers is refused, naming them */
    EXPECT_STATUS(fw_overlay(results, NULL, inventory, NULL, results, "o0", 100.0, false, NULL,
                             NULL),
                  FW_BAD_INPUT);
    CHECK(strstr(fw_last_error(), "name the one to read") != NULL, "ambiguous layer refused");

    /* overlay with the scene's inventory */
    EXPECT_STATUS(fw_overlay(results, "detections", inventory, NULL, results, NULL, 100.0, false,
                             NULL, &json),
                  FW_OK);
    CHECK(json != NULL && strstr(json, "counts") != NULL, "overlay summary");
    printf("overlay: %s\n", json);
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_overlay(results, "detections", "/nonexistent/inv.gpkg", NULL, results,
                             "o2", 100.0, false, NULL, NULL),
                  FW_NOT_FOUND);

    /* persistence of the two detection layers (same scene: every area 2 of 2) */
    const char *paths[2] = {results, results};
    const char *layers[2] = {"detections", "end_to_end"};
    EXPECT_STATUS(fw_persistence(paths, layers, 2, results, NULL, 0.25, 150.0, false, NULL,
                                 &json),
                  FW_OK);
    CHECK(json != NULL && strstr(json, "\"areas\"") != NULL, "persistence summary");
    printf("persistence: %s\n", json);
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_persistence(paths, layers, 1, results, "p1", 0.25, 150.0, false, NULL, NULL),
                  FW_INVALID_ARGUMENT);
    EXPECT_STATUS(fw_persistence(NULL, NULL, 2, results, "p2", 0.25, 150.0, false, NULL, NULL),
                  FW_INVALID_ARGUMENT);

    /* a batch split across processes, as the Dask client and its workers do it: plan, detect
       (here only its refusals: tests/batch.rs runs real products through Python), record a
       result; recording it again writes nothing */
    char *batch_gpkg = join(work, "batch.gpkg");
    const char *products[1] = {scene};
    EXPECT_STATUS(fw_batch_plan(batch_gpkg, NULL, products, 1, &json), FW_OK);
    CHECK(json != NULL && strstr(json, "\"done\":false") != NULL, "plan: not done yet");
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_detect_product(detector, "/nonexistent/product", NULL, NULL, &json),
                  FW_NOT_FOUND);
    CHECK(json == NULL, "no result on an error");
    EXPECT_STATUS(fw_detect_product(NULL, scene, NULL, NULL, NULL), FW_INVALID_ARGUMENT);
    const char *result =
        "{\"interferogram\":\"c_host\",\"grid_crs\":\"EPSG:32633\",\"product_crs\":\"EPSG:32633\","
        "\"seconds\":1.5,\"features\":[{\"ring\":[[500000,4600000],[500300,4600000],"
        "[500300,4600300],[500000,4600300],[500000,4600000]],\"values\":[{\"Text\":\"CF\"},"
        "{\"Real\":0.8},{\"Real\":0.9},{\"Text\":\"c_host\"},{\"Text\":\"2020-07-01\"},"
        "{\"Text\":\"2020-07-13\"},{\"Text\":\"ascending\"},{\"Integer\":12},{\"Text\":\"m\"},"
        "{\"Text\":\"0\"},{\"DateTime\":\"2026-12-03T12:00:00Z\"},{\"Text\":\"unreviewed\"},"
        "\"Null\",\"Null\"]}]}";
    EXPECT_STATUS(fw_batch_record(batch_gpkg, "detections", scene, result, &json), FW_OK);
    CHECK(json != NULL && strstr(json, "\"status\":\"done\"") != NULL, "recorded as done");
    printf("batch record: %s\n", json);
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_batch_record(batch_gpkg, NULL, scene, result, &json), FW_OK);
    CHECK(json != NULL && strstr(json, "\"status\":\"skipped\"") != NULL, "again: skipped");
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_batch_plan(batch_gpkg, NULL, products, 1, &json), FW_OK);
    CHECK(json != NULL && strstr(json, "\"done\":true") != NULL, "plan: done");
    fw_string_free(json);
    json = NULL;
    EXPECT_STATUS(fw_batch_record(batch_gpkg, NULL, "other", "{not json", NULL),
                  FW_INVALID_ARGUMENT);
    CHECK(strstr(fw_last_error(), "result_json") != NULL, "bad result named");
    EXPECT_STATUS(fw_batch_record(batch_gpkg, NULL, "other",
                                  "{\"interferogram\":\"x\",\"grid_crs\":\"EPSG:32633\","
                                  "\"product_crs\":\"EPSG:32633\",\"seconds\":0,\"features\":"
                                  "[{\"ring\":[[0,0],[1,0],[0,0]],\"values\":[]}]}",
                                  NULL),
                  FW_INVALID_ARGUMENT);
    EXPECT_STATUS(fw_batch_record(batch_gpkg, NULL, "other", "{\"failed\":\"no phase\"}", &json),
                  FW_OK);
    CHECK(json != NULL && strstr(json, "\"status\":\"failed\"") != NULL, "recorded failed");
    fw_string_free(json);
    json = NULL;
    /* one done interferogram: no persistence yet */
    EXPECT_STATUS(fw_batch_persistence(batch_gpkg, NULL, 0.25, 150.0, NULL, &json),
                  FW_INVALID_ARGUMENT);
    CHECK(json == NULL && strstr(fw_last_error(), "at least two") != NULL,
          "persistence of one interferogram refused");
    EXPECT_STATUS(fw_batch_plan(batch_gpkg, NULL, NULL, 1, NULL), FW_INVALID_ARGUMENT);
    const char *itself[1] = {batch_gpkg};
    EXPECT_STATUS(fw_batch_plan(batch_gpkg, NULL, itself, 1, NULL), FW_INVALID_ARGUMENT);
    CHECK(strstr(fw_last_error(), "also an input") != NULL, "output as input refused");
    free(batch_gpkg);

    fw_detector_free(detector);
    fw_detector_free(NULL);

    free(phase); free(coherence); free(dem); free(incidence); free(inventory);
    free(isl); free(pc1); free(stack); free(cancelled_stack); free(results);
    free(cancelled_gpkg); free(broken_model);
    if (failures == 0) {
        printf("ALL CHECKS PASSED\n");
        return 0;
    }
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
}
