import Foundation
import TileRun

/// `tilerun devices`: the OpenCL platforms and devices the ICD loader reports, and the CPU backend.
enum DevicesCommand {
    static let usage = "tilerun devices [--json]"

    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: ["--json"], options: [])
        guard args.positionals.isEmpty else { throw UsageError("devices takes no arguments") }
        let devices = try OpenCLDevice.all()
        let (auto, note) = try ComputeDevice.resolve(.auto)
        let threads = ProcessInfo.processInfo.activeProcessorCount
        if args.flags.contains("--json") {
            struct Listing: Encodable {
                var opencl: [OpenCLDevice]
                var cpu: CPU
                var auto: String
                var note: String?
                struct CPU: Encodable { var selector = "cpu", threads: Int }
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let listing = Listing(opencl: devices, cpu: .init(threads: threads), auto: auto.description, note: note)
            print(String(decoding: try encoder.encode(listing), as: UTF8.self))
            return 0
        }
        func size(_ bytes: UInt64) -> String {
            bytes >= 1 << 30 ? String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
                : bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
        }
        if devices.isEmpty { print("no OpenCL platform is installed") }
        for d in devices {
            print("\(d.selector)  \(d.name) [\(d.kind.rawValue)] — \(d.platformName), \(d.vendor)")
            print("    \(d.computeUnits) compute units, \(size(d.globalMemoryBytes)) global memory (\(size(d.maxAllocationBytes)) per buffer), "
                  + "\(size(d.localMemoryBytes)) local memory, \(d.openCLVersion), driver \(d.driverVersion)")
        }
        print("cpu  tilerun CPU kernels, \(threads) threads")
        print("auto → \(auto)" + (note.map { " (\($0))" } ?? ""))
        return 0
    }

    /// The device a `--device` value (default `cpu`) names; the resolution's note, if any, goes to stderr.
    static func device(_ value: String?) throws -> ComputeDevice {
        do {
            let (device, note) = try ComputeDevice.resolve(DeviceChoice(parsing: value ?? "cpu"))
            if let note { Console.error(note) }
            return device
        } catch let error as DeviceChoiceError {
            throw UsageError(error.description)
        }
    }
}
