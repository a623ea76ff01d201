// A C++ host needs only the C header: handles in std::unique_ptr with the library's deleters.
// Run by tests/c_abi.rs (cpp_host_uses_the_c_header).
#include <iostream>
#include <memory>
#include <string>

#include "fringewatch.h"

struct DetectorDeleter {
    void operator()(FwDetector *d) const { fw_detector_free(d); }
};
struct StringDeleter {
    void operator()(char *s) const { fw_string_free(s); }
};
using Detector = std::unique_ptr<FwDetector, DetectorDeleter>;
using String = std::unique_ptr<char, StringDeleter>;

int main() {
    const char *version = nullptr;
    if (fw_version(&version) != FW_OK) return 1;
    std::cout << "fringewatch " << version << "\n";

    FwDetector *raw = nullptr;
    FwStatus status = fw_detector_open("/nonexistent/model.onnx", FW_BACKEND_CPU, &raw);
    std::cout << fw_status_name(status) << ": " << fw_last_error() << "\n";
    if (status != FW_NOT_FOUND || raw != nullptr) return 1;

    if (fw_detector_open(nullptr, FW_BACKEND_AUTO, &raw) != FW_OK) {
        std::cerr << fw_last_error() << "\n";
        return 1;
    }
    Detector detector(raw);
    char *json = nullptr;
    if (fw_detector_info(detector.get(), &json) != FW_OK) return 1;
    String info(json);
    std::cout << info.get() << "\n";
    return 0;
}
