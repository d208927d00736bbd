import Foundation
@testable import TileRun
import XCTest

/// Device discovery, `--device` choices and the program cache.
final class OpenCLDeviceTests: XCTestCase {
    func testDeviceChoicesParse() throws {
        XCTAssertEqual(try DeviceChoice(parsing: "auto"), .auto)
        XCTAssertEqual(try DeviceChoice(parsing: "cpu"), .cpu)
        XCTAssertEqual(try DeviceChoice(parsing: "opencl"), .opencl)
        XCTAssertEqual(try DeviceChoice(parsing: "opencl:1.2"), .openclDevice(platform: 1, device: 2))
        for bad in ["gpu", "opencl:1", "opencl:a.b", "opencl:-1.0", "opencl:1.2.3", ""] {
            XCTAssertThrowsError(try DeviceChoice(parsing: bad), bad) { error in
                XCTAssertTrue("\(error)".contains("auto, cpu, opencl or opencl:P.D"), "\(error)")
            }
        }
        XCTAssertEqual(try ComputeDevice.resolve(.cpu).device, .cpu)
    }

    func testDevicesAreDescribedAndSelectable() throws {
        let device = try openCLTestDevice()
        XCTAssertFalse(device.name.isEmpty)
        XCTAssertGreaterThan(device.computeUnits, 0)
        XCTAssertGreaterThan(device.globalMemoryBytes, 0)
        XCTAssertGreaterThan(device.localMemoryBytes, 0)
        XCTAssertTrue(device.openCLVersion.hasPrefix("OpenCL "), device.openCLVersion)
        XCTAssertEqual(try ComputeDevice.resolve(DeviceChoice(parsing: device.selector)).device, .opencl(device))
        XCTAssertThrowsError(try ComputeDevice.resolve(.openclDevice(platform: 99, device: 0)))
    }

    /// `auto` takes a GPU or the CPU kernels, never a CPU OpenCL device such as PoCL, and says why.
    func testAutoPicksAGPUOrTheCPUKernels() throws {
        _ = try openCLTestDevice()
        let gpu = try OpenCLDevice.all().first { $0.kind == .gpu }
        let (device, note) = try ComputeDevice.resolve(.auto)
        if let gpu {
            XCTAssertEqual(device, .opencl(gpu))
            XCTAssertNil(note)
        } else {
            XCTAssertEqual(device, .cpu)
            XCTAssertTrue(note?.contains("using the CPU kernels") == true, note ?? "no note")
        }
    }

    func testProgramIsCachedOnDiskAndABadCacheFileIsRebuilt() throws {
        let device = try openCLTestDevice()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cache = ProgramCache(directory: dir.path)
        let first = try OpenCLContext(device: device, cache: cache)
        XCTAssertFalse(first.programCacheHit)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(files.count, 1, "\(files)")
        XCTAssertTrue(files[0].hasSuffix(".bin"))
        let second = try OpenCLContext(device: device, cache: cache)
        XCTAssertTrue(second.programCacheHit, "the second build loads the stored binary")

        // Another source (or options) is another key; a corrupt file is rebuilt and replaced.
        XCTAssertNotEqual(cache.path(device: device, source: KernelSource.source, options: "-DX"),
                          cache.path(device: device, source: KernelSource.source, options: first.tiling.buildOptions))
        let file = dir.appendingPathComponent(files[0])
        try Data("not a program".utf8).write(to: file)
        let third = try OpenCLContext(device: device, cache: cache)
        XCTAssertFalse(third.programCacheHit)
        XCTAssertNotEqual(try Data(contentsOf: file), Data("not a program".utf8))
        XCTAssertTrue(try OpenCLContext(device: device, cache: cache).programCacheHit)
    }

    func testBuildFailureCarriesTheCompilerLog() throws {
        let device = try openCLTestDevice()
        let source = "__kernel void broken(__global float* x) { x[0] = undeclared_name + ; }"
        XCTAssertThrowsError(try OpenCLContext(device: device, cache: ProgramCache(directory: nil), source: source)) { error in
            guard let error = error as? OpenCLError else { return XCTFail("\(error) is not an OpenCLError") }
            XCTAssertEqual(error.code, -11, "CL_BUILD_PROGRAM_FAILURE")
            XCTAssertTrue(error.buildLog.contains("undeclared_name") || error.buildLog.contains("error"), error.buildLog)
            XCTAssertTrue(error.description.contains("build log:\n" + error.buildLog), error.description)
        }
    }
}
