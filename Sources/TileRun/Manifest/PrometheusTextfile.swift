import Foundation

/// Metrics in the Prometheus text format, for node_exporter's textfile collector: write the file into
/// its `--collector.textfile.directory` with a `.prom` name. It must appear whole, so `write` goes
/// through a temporary name and a rename.
public struct PrometheusTextfile: Equatable, Sendable {
    public struct Metric: Equatable, Sendable {
        public enum Kind: String, Sendable { case gauge, counter }

        /// `tilerun_…`; letters, digits and underscores.
        public var name: String
        public var help: String
        public var kind: Kind
        public var value: Double

        public init(name: String, help: String, kind: Kind = .gauge, value: Double) {
            self.name = name
            self.help = help
            self.kind = kind
            self.value = value
        }
    }

    public var metrics: [Metric]
    /// Labels on every sample, e.g. `output` for runs writing different folders.
    public var labels: [String: String]

    public init(metrics: [Metric], labels: [String: String] = [:]) {
        self.metrics = metrics
        self.labels = labels
    }

    /// The metrics of a run that just finished over the folder summed up by `status`: last success time
    /// (omitted before the first), scene counts, the batch's duration and exit code.
    public init(status: ManifestStatus, lastSuccess: Date?, batchSeconds: Double, exitCode: Int32) {
        var metrics: [Metric] = []
        if let lastSuccess {
            metrics.append(Metric(name: "tilerun_last_success_timestamp_seconds",
                                  help: "When a tilerun batch last finished with every scene done.", value: lastSuccess.timeIntervalSince1970))
        }
        metrics += [
            Metric(name: "tilerun_scenes_done", help: "Scenes done in the output folder.", value: Double(status.counts.done)),
            Metric(name: "tilerun_scenes_failed", help: "Scenes failed in the output folder.", value: Double(status.counts.failed)),
            Metric(name: "tilerun_scenes_pending", help: "Scenes of the last batch not done yet, interrupted ones included.",
                   value: Double(status.counts.pending + status.counts.running)),
            Metric(name: "tilerun_batch_duration_seconds", help: "Duration of the last tilerun batch.", value: batchSeconds),
            Metric(name: "tilerun_last_exit_code", help: "Exit code of the last tilerun batch.", value: Double(exitCode)),
        ]
        self.init(metrics: metrics, labels: ["output": status.outputFolder])
    }

    /// The file's text: `# HELP` and `# TYPE` before each sample, one sample per metric.
    public var text: String {
        let labelText = labels.isEmpty ? "" : "{" + labels.keys.sorted().map { "\($0)=\"\(PrometheusTextfile.escape(labels[$0]!))\"" }
            .joined(separator: ",") + "}"
        return metrics.map { metric in
            "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.kind.rawValue)\n"
                + "\(metric.name)\(labelText) \(PrometheusTextfile.format(metric.value))\n"
        }.joined()
    }

    /// Writes `text` to `path` atomically; throws a `ManifestError` naming `path`.
    public func write(to path: String) throws {
        try AtomicFile.write(Data(text.utf8), to: path)
    }

    /// Integers without a fraction; others in Swift's shortest round-trip form, which Prometheus parses.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A label value with `\`, `"` and newlines escaped, as the format requires.
    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
