import Foundation

/// A float32 tensor in device memory (contiguous, row-major).
struct DeviceTensor {
    var shape: [Int]
    let buffer: DeviceBuffer
    var count: Int { shape.reduce(1, *) }
}

/// A value between steps on the device backend: where it currently lives.
enum StepValue {
    case host(Tensor)
    case device(DeviceTensor)

    var shape: [Int] {
        switch self {
        case .host(let t): return t.shape
        case .device(let d): return d.shape
        }
    }

    var element: TensorElement {
        if case .host(let t) = self { return t.element }
        return .float32
    }
}

/// Where the steps of a device run went, for `tilerun bench` and logs.
public struct DeviceExecutionReport: Sendable, CustomStringConvertible {
    /// The device, as `ComputeDevice.description` names it.
    public var device: String
    /// Steps run by device kernels (or needing no data movement), by op type.
    public var onDevice: [String: Int] = [:]
    /// Steps run by the CPU operator, by op type.
    public var onCPU: [String: Int] = [:]
    public var uploads = 0, uploadBytes = 0
    public var downloads = 0, downloadBytes = 0

    public var description: String {
        func list(_ counts: [String: Int]) -> String {
            counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        let cpu = onCPU.isEmpty ? "none on the CPU" : "\(onCPU.values.reduce(0, +)) on the CPU (\(list(onCPU)))"
        return "\(device): \(onDevice.values.reduce(0, +)) steps on the device (\(list(onDevice))), \(cpu); "
            + "\(uploads) uploads (\(uploadBytes) bytes), \(downloads) downloads (\(downloadBytes) bytes)"
    }
}

/// Runs a session's prepared steps on an OpenCL device: each step through its device operator when
/// there is one for the op and its inputs, else through its CPU operator with the inputs copied back.
/// Weights and other constants are uploaded once; intermediate values stay on the device.
///
/// Out of device memory, a batch is split in two and each half retried; any other device failure
/// finishes the batch on the CPU, and the session stays on the CPU from then on (`failure`, `onFailure`).
final class OpenCLExecutor: @unchecked Sendable {
    unowned let session: InferenceSession
    let cl: OpenCLContext
    private let operators: [DeviceOperator?]
    /// Float constants already in device memory, by value name (guarded by `cl.lock`).
    private var uploadedConstants: [String: DeviceTensor] = [:]

    private let stateLock = NSLock()
    private var latestReport: DeviceExecutionReport?
    private var failureMessage: String?
    private var failureHandler: (@Sendable (String) -> Void)?
    /// Test hook: the next device run throws `error` when it reaches step `step`.
    var injectedFault: (step: Int, error: OpenCLError)?

    init(session: InferenceSession, device: OpenCLDevice) throws {
        self.session = session
        let cl = try OpenCLContext.shared(for: device)
        let constants = session.constants
        operators = try session.steps.map { try DeviceOperators.make(for: $0, opset: session.opset, constants: constants, cl: cl) }
        self.cl = cl
    }

    var report: DeviceExecutionReport? { locked { latestReport } }
    var failure: String? { locked { failureMessage } }
    var onFailure: (@Sendable (String) -> Void)? {
        get { locked { failureHandler } }
        set { locked { failureHandler = newValue } }
    }

    private func locked<T>(_ body: () -> T) -> T {
        stateLock.lock()
        defer { stateLock.unlock() }
        return body()
    }

    func run(_ feeds: [String: Tensor], threads: Int, observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> [String: Tensor] {
        if failure != nil { return try session.runOnCPU(feeds, threads: threads, observe: observe) }
        do {
            return try runOnDevice(feeds, threads: threads, observe: observe)
        } catch let error as OpenCLError where error.isOutOfMemory {
            cl.releaseIdleBuffers()
            if let (first, second) = Self.splitBatch(feeds) {
                let a = try run(first, threads: threads, observe: observe)
                let b = try run(second, threads: threads, observe: observe)
                if let joined = Self.joinBatch(a, b) { return joined }
            }
            return try fallBack(error, feeds, threads: threads, observe: observe)
        } catch let error as OpenCLError {
            return try fallBack(error, feeds, threads: threads, observe: observe)
        }
    }

    /// Records the failure, tells the handler once, and runs the batch on the CPU.
    private func fallBack(_ error: OpenCLError, _ feeds: [String: Tensor], threads: Int,
                          observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> [String: Tensor] {
        let message = "\(ComputeDevice.opencl(cl.device)) failed (\(error.description.split(separator: "\n").first ?? "")); continuing on the CPU"
        let handler: (@Sendable (String) -> Void)? = locked {
            guard failureMessage == nil else { return nil }
            failureMessage = message
            return failureHandler
        }
        handler?(message)
        return try session.runOnCPU(feeds, threads: threads, observe: observe)
    }

    private func runOnDevice(_ feeds: [String: Tensor], threads: Int,
                             observe: ((NodeSpec, [[Int]], [[Int]]) -> Void)?) throws -> [String: Tensor] {
        for input in session.inputs where feeds[input.name] == nil {
            throw ModelError(path: session.source, problem: "input '\(input.name)' was not given")
        }
        cl.lock.lock()
        defer { cl.lock.unlock() }
        var report = DeviceExecutionReport(device: ComputeDevice.opencl(cl.device).description)
        let context = ExecutionContext(threads: threads)
        var values = feeds.mapValues { StepValue.host($0) }
        let constants = session.constants
        for (index, step) in session.steps.enumerated() {
            if let fault = injectedFault, fault.step == index {
                injectedFault = nil
                throw fault.error
            }
            let inputs = step.inputs.map { name -> StepValue? in
                name.isEmpty ? nil : values[name] ?? constants[name].map { .host($0) }
            }
            let deviceStep = DeviceStep(executor: self, names: step.inputs, values: inputs)
            var outputs: [StepValue]
            do {
                if let op = operators[index], let result = try op.run(deviceStep) {
                    outputs = result
                    report.onDevice[step.node.opType, default: 0] += 1
                } else {
                    let hostInputs = try inputs.map { try $0.map { try hostTensor($0, &deviceStep.transfers) } }
                    outputs = try step.op.run(hostInputs, context).map { .host($0) }
                    report.onCPU[step.node.opType, default: 0] += 1
                }
            } catch let error as GraphError {
                throw ModelError(path: session.source, problem: error.description)
            }
            report.add(deviceStep.transfers)
            if let observe {
                try cl.finish()
                observe(step.node, inputs.map { $0?.shape ?? [] }, outputs.map(\.shape))
            }
            for (name, value) in zip(step.outputs, outputs) where !name.isEmpty { values[name] = value }
            for name in step.releases { values[name] = nil }
        }
        var result: [String: Tensor] = [:]
        var transfers = Transfers()
        for name in session.outputNames {
            guard let value = values[name] ?? constants[name].map({ .host($0) }) else {
                throw ModelError(path: session.source, problem: "output '\(name)' was not computed")
            }
            result[name] = try hostTensor(value, &transfers)
        }
        report.add(transfers)
        locked { latestReport = report }
        return result
    }

    /// The value as a host tensor, reading it back from the device if it is there.
    func hostTensor(_ value: StepValue, _ transfers: inout Transfers) throws -> Tensor {
        switch value {
        case .host(let t): return t
        case .device(let d):
            transfers.downloads += 1
            transfers.downloadBytes += d.count * 4
            return Tensor(shape: d.shape, floats: try cl.download(d.buffer, count: d.count, as: Float.self))
        }
    }

    /// A float tensor in device memory: constants are uploaded on first use and kept.
    func deviceTensor(_ value: StepValue, name: String, _ transfers: inout Transfers) throws -> DeviceTensor {
        switch value {
        case .device(let d): return d
        case .host(let t):
            guard let floats = t.floats else { throw OpenCLError(0, "uploading \(t.element.rawValue) value '\(name)'") }
            if let kept = uploadedConstants[name] { return kept }
            let isConstant = !name.isEmpty && session.constants[name] != nil
            let tensor = DeviceTensor(shape: t.shape, buffer: try cl.upload(floats, pooled: !isConstant))
            transfers.uploads += 1
            transfers.uploadBytes += floats.count * 4
            if isConstant { uploadedConstants[name] = tensor }
            return tensor
        }
    }

    /// Splits every feed in two along axis 0; nil unless all feeds share a leading dimension above 1.
    static func splitBatch(_ feeds: [String: Tensor]) -> ([String: Tensor], [String: Tensor])? {
        guard let n = feeds.first?.value.shape.first, n > 1,
              feeds.values.allSatisfy({ $0.shape.first == n && $0.floats != nil }) else { return nil }
        let half = n / 2
        var a: [String: Tensor] = [:], b: [String: Tensor] = [:]
        for (name, t) in feeds {
            let per = t.count / n
            var shape = t.shape
            shape[0] = half
            a[name] = Tensor(shape: shape, floats: Array(t.floats![..<(half * per)]))
            shape[0] = n - half
            b[name] = Tensor(shape: shape, floats: Array(t.floats![(half * per)...]))
        }
        return (a, b)
    }

    /// Joins two halves' outputs along axis 0; nil when an output is not batched that way.
    static func joinBatch(_ a: [String: Tensor], _ b: [String: Tensor]) -> [String: Tensor]? {
        var out: [String: Tensor] = [:]
        for (name, x) in a {
            guard let y = b[name], x.rank > 0, Array(x.shape.dropFirst()) == Array(y.shape.dropFirst()) else { return nil }
            let shape = [x.shape[0] + y.shape[0]] + x.shape.dropFirst()
            switch (x.storage, y.storage) {
            case let (.float(p), .float(q)): out[name] = Tensor(shape: shape, floats: p + q)
            case let (.int64(p), .int64(q)): out[name] = Tensor(shape: shape, int64s: p + q)
            case let (.bool(p), .bool(q)): out[name] = Tensor(shape: shape, bools: p + q)
            default: return nil
            }
        }
        return out
    }
}

/// Copies between host and device during one step.
struct Transfers {
    var uploads = 0, uploadBytes = 0, downloads = 0, downloadBytes = 0
}

extension DeviceExecutionReport {
    mutating func add(_ t: Transfers) {
        uploads += t.uploads
        uploadBytes += t.uploadBytes
        downloads += t.downloads
        downloadBytes += t.downloadBytes
    }
}

/// What a device operator sees of its step: the inputs wherever they are, and the device.
final class DeviceStep {
    unowned let executor: OpenCLExecutor
    let names: [String]
    let values: [StepValue?]
    var transfers = Transfers()

    init(executor: OpenCLExecutor, names: [String], values: [StepValue?]) {
        self.executor = executor
        self.names = names
        self.values = values
    }

    var cl: OpenCLContext { executor.cl }
    var count: Int { values.count }

    func shape(_ i: Int) -> [Int]? { i < values.count ? values[i]?.shape : nil }

    /// Input `i` is present and float32 (on the device or on the host).
    func isFloat(_ i: Int) -> Bool { i < values.count && values[i]?.element == .float32 }

    /// Input `i` is present and already in device memory.
    func isOnDevice(_ i: Int) -> Bool {
        if i < values.count, case .device? = values[i] { return true }
        return false
    }

    /// Input `i` in device memory (uploaded if needed); it must be float32.
    func device(_ i: Int) throws -> DeviceTensor {
        guard let value = values[i] else { throw OpenCLError(0, "input \(i + 1) is missing") }
        return try executor.deviceTensor(value, name: names[i], &transfers)
    }

    /// Input `i` on the host (read back if needed), or nil when it is omitted.
    func host(_ i: Int) throws -> Tensor? {
        guard i < values.count, let value = values[i] else { return nil }
        return try executor.hostTensor(value, &transfers)
    }

    /// A device copy of step parameters computed on the host (counted as an upload); `pooled: false`
    /// for those the operator keeps across runs.
    func upload<T>(_ values: [T], pooled: Bool = true) throws -> DeviceBuffer {
        transfers.uploads += 1
        transfers.uploadBytes += values.count * MemoryLayout<T>.stride
        return try cl.upload(values, pooled: pooled)
    }

    /// A new device tensor of `shape`, contents undefined.
    func output(_ shape: [Int]) throws -> DeviceTensor {
        let count = shape.reduce(1, *)
        guard count < Int(Int32.max) else { throw OpenCLError(0, "a tensor of \(count) values exceeds the kernels' 32-bit indexing") }
        return DeviceTensor(shape: shape, buffer: try cl.buffer(count: count))
    }
}
