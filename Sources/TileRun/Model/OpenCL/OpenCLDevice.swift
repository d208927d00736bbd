import Foundation
import COpenCL

/// One OpenCL device as the ICD loader reports it: where it is (platform and device index) and what it is.
public struct OpenCLDevice: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case gpu, cpu, accelerator, other
    }

    /// Index of the platform in the loader's list, and of the device within the platform (`opencl:P.D`).
    public var platformIndex: Int
    public var deviceIndex: Int
    public var platformName: String
    public var name: String
    public var vendor: String
    public var kind: Kind
    public var computeUnits: Int
    public var globalMemoryBytes: UInt64
    public var localMemoryBytes: UInt64
    /// The largest single buffer the device accepts.
    public var maxAllocationBytes: UInt64
    public var maxWorkGroupSize: Int
    /// CL_DEVICE_VERSION, e.g. "OpenCL 3.0 CUDA".
    public var openCLVersion: String
    public var driverVersion: String

    /// The device handle; stable for the life of the process.
    let id: DeviceID

    /// `cl_device_id`, which is process-local: not encoded, nil in a decoded description.
    struct DeviceID: @unchecked Sendable {
        let handle: cl_device_id?
        init(_ handle: cl_device_id?) { self.handle = handle }
    }

    private enum CodingKeys: String, CodingKey {
        case platformIndex, deviceIndex, platformName, name, vendor, kind, computeUnits, globalMemoryBytes,
             localMemoryBytes, maxAllocationBytes, maxWorkGroupSize, openCLVersion, driverVersion
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        platformIndex = try c.decode(Int.self, forKey: .platformIndex)
        deviceIndex = try c.decode(Int.self, forKey: .deviceIndex)
        platformName = try c.decode(String.self, forKey: .platformName)
        name = try c.decode(String.self, forKey: .name)
        vendor = try c.decode(String.self, forKey: .vendor)
        kind = try c.decode(Kind.self, forKey: .kind)
        computeUnits = try c.decode(Int.self, forKey: .computeUnits)
        globalMemoryBytes = try c.decode(UInt64.self, forKey: .globalMemoryBytes)
        localMemoryBytes = try c.decode(UInt64.self, forKey: .localMemoryBytes)
        maxAllocationBytes = try c.decode(UInt64.self, forKey: .maxAllocationBytes)
        maxWorkGroupSize = try c.decode(Int.self, forKey: .maxWorkGroupSize)
        openCLVersion = try c.decode(String.self, forKey: .openCLVersion)
        driverVersion = try c.decode(String.self, forKey: .driverVersion)
        id = DeviceID(nil)
    }

    /// `opencl:P.D`, the form `--device` accepts.
    public var selector: String { "opencl:\(platformIndex).\(deviceIndex)" }

    /// Every device of every platform, in the loader's order; empty when no platform is installed
    /// (no ICD registered), which is not an error.
    public static func all() throws -> [OpenCLDevice] {
        var platformCount: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &platformCount)
        // -1001 is CL_PLATFORM_NOT_FOUND_KHR (cl_ext.h): the loader found no ICD.
        if status == -1001 || platformCount == 0 { return [] }
        try OpenCLError.check(status, "clGetPlatformIDs")
        var platforms = [cl_platform_id?](repeating: nil, count: Int(platformCount))
        try OpenCLError.check(clGetPlatformIDs(platformCount, &platforms, nil), "clGetPlatformIDs")
        var devices: [OpenCLDevice] = []
        for (p, platform) in platforms.enumerated() {
            let platformName = try platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            var count: cl_uint = 0
            let s = clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &count)
            if s == CL_DEVICE_NOT_FOUND || count == 0 { continue }
            try OpenCLError.check(s, "clGetDeviceIDs")
            var ids = [cl_device_id?](repeating: nil, count: Int(count))
            try OpenCLError.check(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), count, &ids, nil), "clGetDeviceIDs")
            for (d, id) in ids.enumerated() {
                devices.append(try OpenCLDevice(id: id, platformIndex: p, deviceIndex: d, platformName: platformName))
            }
        }
        return devices
    }

    private init(id: cl_device_id?, platformIndex: Int, deviceIndex: Int, platformName: String) throws {
        self.id = DeviceID(id)
        self.platformIndex = platformIndex
        self.deviceIndex = deviceIndex
        self.platformName = platformName
        name = try Self.string(id, CL_DEVICE_NAME)
        vendor = try Self.string(id, CL_DEVICE_VENDOR)
        openCLVersion = try Self.string(id, CL_DEVICE_VERSION)
        driverVersion = try Self.string(id, CL_DRIVER_VERSION)
        let type: cl_device_type = try Self.value(id, CL_DEVICE_TYPE)
        if type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0 { kind = .gpu }
        else if type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0 { kind = .cpu }
        else if type & cl_device_type(CL_DEVICE_TYPE_ACCELERATOR) != 0 { kind = .accelerator }
        else { kind = .other }
        computeUnits = Int(try Self.value(id, CL_DEVICE_MAX_COMPUTE_UNITS) as cl_uint)
        globalMemoryBytes = try Self.value(id, CL_DEVICE_GLOBAL_MEM_SIZE)
        localMemoryBytes = try Self.value(id, CL_DEVICE_LOCAL_MEM_SIZE)
        maxAllocationBytes = try Self.value(id, CL_DEVICE_MAX_MEM_ALLOC_SIZE)
        maxWorkGroupSize = try Self.value(id, CL_DEVICE_MAX_WORK_GROUP_SIZE)
    }

    private static func value<T>(_ id: cl_device_id?, _ param: Int32) throws -> T {
        let size = MemoryLayout<T>.size
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<T>.alignment)
        defer { pointer.deallocate() }
        try OpenCLError.check(clGetDeviceInfo(id, cl_device_info(param), size, pointer, nil), "clGetDeviceInfo(\(param))")
        return pointer.load(as: T.self)
    }

    private static func string(_ id: cl_device_id?, _ param: Int32) throws -> String {
        var size = 0
        try OpenCLError.check(clGetDeviceInfo(id, cl_device_info(param), 0, nil, &size), "clGetDeviceInfo(\(param))")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try OpenCLError.check(clGetDeviceInfo(id, cl_device_info(param), size, &bytes, nil), "clGetDeviceInfo(\(param))")
        return String(cString: bytes).trimmingCharacters(in: .whitespaces)
    }

    private static func platformString(_ id: cl_platform_id?, _ param: cl_platform_info) throws -> String {
        var size = 0
        try OpenCLError.check(clGetPlatformInfo(id, param, 0, nil, &size), "clGetPlatformInfo")
        var bytes = [CChar](repeating: 0, count: size + 1)
        try OpenCLError.check(clGetPlatformInfo(id, param, size, &bytes, nil), "clGetPlatformInfo")
        return String(cString: bytes).trimmingCharacters(in: .whitespaces)
    }

    public static func == (a: OpenCLDevice, b: OpenCLDevice) -> Bool {
        a.platformIndex == b.platformIndex && a.deviceIndex == b.deviceIndex && a.name == b.name
    }
}
