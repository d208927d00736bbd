// swift-tools-version:6.0
import PackageDescription

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
        // Small C shims: libtiff's getters and setters are variadic and its handlers take va_list,
        // neither of which Swift can call or implement directly.
        .target(
            name: "CTIFFBridge",
            dependencies: ["CLibTIFF", "CGeoTIFF"],
            cSettings: [.unsafeFlags(["-I/usr/include/geotiff"])],
            linkerSettings: [.linkedLibrary("tiff"), .linkedLibrary("geotiff")]
        ),
        .target(
            name: "TileRun",
            dependencies: ["CTIFFBridge", "CLibTIFF", "CGeoTIFF"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/geotiff"])]
        ),
        .executableTarget(
            name: "tilerun",
            dependencies: ["TileRun"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/geotiff"])]
        ),
        .testTarget(
            name: "TileRunTests",
            dependencies: ["TileRun"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/geotiff"])]
        ),
    ],
    swiftLanguageModes: [.v5]
)
