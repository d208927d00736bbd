import COpenCL
import Foundation

/// Compiled OpenCL programs kept on disk, so a process builds the kernels from source only once per
/// device, driver and kernel source. Files are named by device name, driver version and a hash of the
/// source and build options; a binary the driver refuses is rebuilt from source and replaced.
public struct ProgramCache: Sendable {
    /// Where binaries are stored; nil turns the cache off.
    public var directory: String?

    public init(directory: String?) { self.directory = directory }

    /// `$XDG_CACHE_HOME/tilerun/opencl`, else `~/.cache/tilerun/opencl`.
    public static var defaultDirectory: String {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (env["HOME"] ?? NSHomeDirectory()) + "/.cache"
        return base + "/tilerun/opencl"
    }

    /// The file a program for `device` with `source` and `options` is cached in.
    func path(device: OpenCLDevice, source: String, options: String) -> String? {
        guard let directory else { return nil }
        func clean(_ s: String) -> String {
            String(s.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" }.prefix(60))
        }
        let hash = fnv1a64(Array(source.utf8) + [0] + Array(options.utf8))
        return "\(directory)/\(clean(device.name))-\(clean(device.driverVersion))-\(String(hash, radix: 16)).bin"
    }

    /// A built program for `device` in `context`, from the cached binary when there is a usable one.
    /// A build failure throws an `OpenCLError` whose message carries the compiler's log.
    func build(source: String, options: String, context: cl_context, device: OpenCLDevice) throws -> (program: cl_program, cacheHit: Bool) {
        var deviceID = device.id.handle
        let file = path(device: device, source: source, options: options)
        if let file, let binary = FileManager.default.contents(atPath: file), !binary.isEmpty {
            var status: cl_int = 0
            var binaryStatus: cl_int = 0
            let program: cl_program? = binary.withUnsafeBytes { raw in
                var length = raw.count
                var pointer: UnsafePointer<UInt8>? = raw.bindMemory(to: UInt8.self).baseAddress
                return clCreateProgramWithBinary(context, 1, &deviceID, &length, &pointer, &binaryStatus, &status)
            }
            if let program, status == CL_SUCCESS, binaryStatus == CL_SUCCESS,
               clBuildProgram(program, 1, &deviceID, options, nil, nil) == CL_SUCCESS {
                return (program, true)
            }
            if let program { clReleaseProgram(program) }
        }
        var status: cl_int = 0
        let program: cl_program? = source.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            var length = strlen(text)
            return clCreateProgramWithSource(context, 1, &pointer, &length, &status)
        }
        guard let program, status == CL_SUCCESS else { throw OpenCLError(status, "clCreateProgramWithSource") }
        let built = clBuildProgram(program, 1, &deviceID, options, nil, nil)
        guard built == CL_SUCCESS else {
            let log = Self.buildLog(program, deviceID)
            clReleaseProgram(program)
            throw OpenCLError(built, "building the kernels for \(device.name)", buildLog: log.isEmpty ? "(the driver gave no log)" : log)
        }
        if let file { store(program, to: file) }
        return (program, false)
    }

    private static func buildLog(_ program: cl_program, _ device: cl_device_id?) -> String {
        var size = 0
        guard clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size) == CL_SUCCESS,
              size > 1 else { return "" }
        var bytes = [CChar](repeating: 0, count: size + 1)
        guard clGetProgramBuildInfo(program, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil) == CL_SUCCESS else {
            return ""
        }
        return String(cString: bytes).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes the program's binary beside the others (through a temporary file, so a reader never sees
    /// half a file). A cache that cannot be written only costs the next process a rebuild.
    private func store(_ program: cl_program, to file: String) {
        var size = 0
        guard clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == CL_SUCCESS,
              size > 0 else { return }
        var binary = [UInt8](repeating: 0, count: size)
        let status = binary.withUnsafeMutableBufferPointer { buffer -> cl_int in
            var pointer: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            return clGetProgramInfo(program, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &pointer, nil)
        }
        guard status == CL_SUCCESS, let directory else { return }
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = file + ".\(ProcessInfo.processInfo.processIdentifier).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(binary)) else { return }
        if rename(temporary, file) != 0 { try? FileManager.default.removeItem(atPath: temporary) }
    }
}

/// 64-bit FNV-1a: a stable content hash for cache keys (not a security boundary).
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
        hash ^= UInt64(b)
        hash = hash &* 0x100_0000_01b3
    }
    return hash
}
