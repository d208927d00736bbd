/// What the user asked for with `--device`: `auto`, `cpu`, `opencl` or `opencl:P.D`.
public enum DeviceChoice: Equatable, Sendable, CustomStringConvertible {
    /// The first OpenCL GPU if there is one, else the CPU kernels.
    case auto
    /// tilerun's own CPU kernels.
    case cpu
    /// The first OpenCL GPU, else the first OpenCL device of any kind (PoCL, for instance).
    case opencl
    /// Device `device` of platform `platform`, as `tilerun devices` numbers them.
    case openclDevice(platform: Int, device: Int)

    /// Parses the `--device` value; throws a message listing the accepted forms.
    public init(parsing text: String) throws {
        switch text {
        case "auto": self = .auto
        case "cpu": self = .cpu
        case "opencl": self = .opencl
        default:
            let parts = text.hasPrefix("opencl:") ? text.dropFirst(7).split(separator: ".", omittingEmptySubsequences: false) : []
            guard parts.count == 2, let p = Int(parts[0]), let d = Int(parts[1]), p >= 0, d >= 0 else {
                throw DeviceChoiceError(description: "--device \(text): expected auto, cpu, opencl or opencl:P.D (see 'tilerun devices')")
            }
            self = .openclDevice(platform: p, device: d)
        }
    }

    public var description: String {
        switch self {
        case .auto: return "auto"
        case .cpu: return "cpu"
        case .opencl: return "opencl"
        case let .openclDevice(p, d): return "opencl:\(p).\(d)"
        }
    }
}

/// A `--device` value that does not parse or names no device.
public struct DeviceChoiceError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Where a model runs: tilerun's CPU kernels or one OpenCL device.
public enum ComputeDevice: Sendable, Equatable, CustomStringConvertible {
    case cpu
    case opencl(OpenCLDevice)

    /// Resolves a choice against the installed devices. `note` is a one-line remark for the user when
    /// the choice was not taken literally (auto without a GPU falls back to the CPU kernels).
    public static func resolve(_ choice: DeviceChoice) throws -> (device: ComputeDevice, note: String?) {
        if choice == .cpu { return (.cpu, nil) }
        let devices: [OpenCLDevice]
        do {
            devices = try OpenCLDevice.all()
        } catch let error as OpenCLError where choice == .auto {
            return (.cpu, "no usable OpenCL platform (\(error.description)); using the CPU kernels")
        }
        let gpu = devices.first { $0.kind == .gpu }
        switch choice {
        case .cpu:
            return (.cpu, nil)
        case .auto:
            if let gpu { return (.opencl(gpu), nil) }
            let others = devices.isEmpty ? "no OpenCL device" : "no OpenCL GPU (\(devices.map(\.name).joined(separator: ", ")) skipped)"
            return (.cpu, "\(others); using the CPU kernels")
        case .opencl:
            guard let device = gpu ?? devices.first else {
                throw DeviceChoiceError(description: "--device opencl: no OpenCL platform is installed (see 'tilerun devices')")
            }
            return (.opencl(device), nil)
        case let .openclDevice(p, d):
            guard let device = devices.first(where: { $0.platformIndex == p && $0.deviceIndex == d }) else {
                throw DeviceChoiceError(description: "--device opencl:\(p).\(d): no such device (see 'tilerun devices')")
            }
            return (.opencl(device), nil)
        }
    }

    public var description: String {
        switch self {
        case .cpu: return "cpu"
        case let .opencl(d): return "\(d.selector) (\(d.name))"
        }
    }
}
