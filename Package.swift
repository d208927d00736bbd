// swift-tools-version:6.0
import PackageDescription

// The CPU kernels need AVX2 + FMA code generation: Swift's default x86-64 target has neither, and without
// them every fused multiply-add becomes a library call (see TileRunKernels). Guarded so arm64 still builds.
#if arch(x86_64)
let kernelCPUFlags = ["-target-cpu", "haswell"]
#else
let kernelCPUFlags: [String] = []
#endif

// tilerun: GeoTIFF scenes in, georeferenced segmentation maps out.
// No third-party Swift packages: the C libraries come from Debian (see deploy/install-deps.sh).
let package = Package(
    name: "tilerun",
    products: [
        .executable(name: "tilerun", targets: ["tilerun"]),
        .library(name: "TileRun", targets: ["TileRun"]),
    ],
    targets: [
        .systemLibrary(
            name: "CLibTIFF",
            pkgConfig: "libtiff-4",
            providers: [.apt(["libtiff-dev"])]
        ),
        .systemLibrary(
            name: "CGeoTIFF",
            providers: [.apt(["libgeotiff-dev"])]
        ),
        // OpenCL 1.2 through the ICD loader, for the model runtime's GPU backend (Sources/TileRun/Model/OpenCL).
        .systemLibrary(
            name: "COpenCL",
            providers: [.apt(["ocl-icd-opencl-dev", "opencl-headers"])]
        ),
        // Quicklook PNGs through libpng's simplified API, which catches libpng's longjmp errors itself.
        .systemLibrary(
            name: "CPNG",
            pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        // libdeflate: class-map tiles are compressed on several threads (Raster/TileCompressor.swift).
        .systemLibrary(
            name: "CDeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        // glibc's mallopt: activations stay in the heap between tiles (Model/Runtime/ActivationMemory.swift).
        .systemLibrary(name: "CMalloc"),
        // OpenSSL's libcrypto, for SHA-256 in the checkpoint manifest (Sources/TileRun/Manifest).
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Small C shims: libtiff's getters and setters are variadic and its handlers take va_list,
        // neither of which Swift can call or implement directly.
        .target(
            name: "CTIFFBridge",
            dependencies: ["CLibTIFF", "CGeoTIFF"],
            cSettings: [.unsafeFlags(["-I/usr/include/geotiff"])],
            linkerSettings: [.linkedLibrary("tiff"), .linkedLibrary("geotiff")]
        ),
        // CPU convolution and SGEMM kernels for the model runtime; no dependencies.
        .target(
            name: "TileRunKernels",
            swiftSettings: [
                .unsafeFlags(kernelCPUFlags),
                .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
            ]
        ),
        .target(
            name: "TileRun",
            dependencies: ["CTIFFBridge", "CLibTIFF", "CGeoTIFF", "CPNG", "TileRunKernels", "COpenCL", "CCrypto", "CMalloc", "CDeflate"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/geotiff"])]
        ),
        .executableTarget(
            name: "tilerun",
            dependencies: ["TileRun"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/geotiff"])]
        ),
        .executableTarget(
            name: "kernel-bench",
            dependencies: ["TileRunKernels"]
        ),
        .testTarget(
            name: "TileRunKernelsTests",
            dependencies: ["TileRunKernels"]
        ),
        .testTarget(
            name: "TileRunTests",
            dependencies: ["TileRun"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/geotiff"])]
        ),
    ],
    swiftLanguageModes: [.v5]
)
