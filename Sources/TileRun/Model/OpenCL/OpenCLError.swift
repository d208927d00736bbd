import COpenCL

/// A failed OpenCL call, or a program that did not compile (with the compiler's log).
public struct OpenCLError: Error, CustomStringConvertible, Sendable {
    /// The OpenCL status code (CL_* constants, negative), or 0 for errors raised by tilerun itself.
    public let code: Int32
    /// What was being done: the API call or tilerun's own step.
    public let operation: String
    /// The compiler's output when a program build failed; empty otherwise.
    public let buildLog: String

    init(_ code: Int32, _ operation: String, buildLog: String = "") {
        self.code = code
        self.operation = operation
        self.buildLog = buildLog
    }

    public var description: String {
        var text = "OpenCL: \(operation) failed"
        if code != 0 { text += " (\(Self.name(of: code)))" }
        if !buildLog.isEmpty { text += "; build log:\n" + buildLog }
        return text
    }

    /// Out of device or host memory: the caller may retry with less work at once.
    /// NVIDIA allocates buffers lazily and reports exhaustion at the first enqueue as either code.
    public var isOutOfMemory: Bool {
        code == CL_MEM_OBJECT_ALLOCATION_FAILURE || code == CL_OUT_OF_RESOURCES || code == CL_OUT_OF_HOST_MEMORY
    }

    /// Throws unless `status` is CL_SUCCESS.
    static func check(_ status: cl_int, _ operation: @autoclosure () -> String) throws {
        if status != CL_SUCCESS { throw OpenCLError(status, operation()) }
    }

    static func name(of code: Int32) -> String {
        let names: [Int32: String] = [
            -1: "CL_DEVICE_NOT_FOUND", -2: "CL_DEVICE_NOT_AVAILABLE", -3: "CL_COMPILER_NOT_AVAILABLE",
            -4: "CL_MEM_OBJECT_ALLOCATION_FAILURE", -5: "CL_OUT_OF_RESOURCES", -6: "CL_OUT_OF_HOST_MEMORY",
            -7: "CL_PROFILING_INFO_NOT_AVAILABLE", -11: "CL_BUILD_PROGRAM_FAILURE", -14: "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST",
            -30: "CL_INVALID_VALUE", -32: "CL_INVALID_PLATFORM", -33: "CL_INVALID_DEVICE", -34: "CL_INVALID_CONTEXT",
            -36: "CL_INVALID_COMMAND_QUEUE", -38: "CL_INVALID_MEM_OBJECT", -42: "CL_INVALID_BINARY",
            -44: "CL_INVALID_PROGRAM", -45: "CL_INVALID_PROGRAM_EXECUTABLE", -46: "CL_INVALID_KERNEL_NAME",
            -48: "CL_INVALID_KERNEL", -49: "CL_INVALID_ARG_INDEX", -50: "CL_INVALID_ARG_VALUE", -51: "CL_INVALID_ARG_SIZE",
            -52: "CL_INVALID_KERNEL_ARGS", -54: "CL_INVALID_WORK_GROUP_SIZE", -55: "CL_INVALID_WORK_ITEM_SIZE",
            -61: "CL_INVALID_BUFFER_SIZE", -1001: "CL_PLATFORM_NOT_FOUND_KHR",
        ]
        return names[code] ?? "error \(code)"
    }
}
