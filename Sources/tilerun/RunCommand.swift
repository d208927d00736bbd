import Foundation
import TileRun

/// `tilerun run`: scenes in, georeferenced class maps and statistics out (docs/pipeline-files.md), with
/// checkpoints in the output folder's manifest (docs/scheduling.md).
enum RunCommand {
    static let usage = """
        tilerun run [PIPELINE.json] [--input FILE|DIR|GLOB|LIST.txt]... [--model M.onnx] [--output DIR] [--device D]
                    [--threads N] [--probabilities] [--no-quicklook] [--restart] [--progress auto|bar|lines|json|none]
                    [--log FILE] [--log-format plain|json] [--metrics FILE] [--shard I/N] [--shards N]
          tilerun validate PIPELINE.json
        """

    /// Runs the batch `words` (the words after `run`) describe. For `tilerun resume`: `output` replaces the
    /// output folder without being recorded (the folder may have moved), and `note` starts the log.
    static func run(_ words: [String], output overrideOutput: String? = nil, note: String? = nil) throws -> Int32 {
        // Past a file-size limit (ulimit -f) a write then fails with EFBIG, like a full disk, instead of
        // the signal ending tilerun.
        signal(SIGXFSZ, SIG_IGN)
        let (inputs, rest) = try splitInputs(words)
        let args = try Arguments(rest, flags: ["--probabilities", "--no-quicklook", "--restart"],
                                 options: ["--model", "--output", "--threads", "--device", "--progress", "--log", "--log-format", "--metrics",
                                           "--shard", "--shards"])
        let display: ProgressDisplay
        do {
            display = try ProgressDisplay(requested: args.options["--progress"] ?? "auto", logFile: args.options["--log"],
                                          logFormat: args.options["--log-format"] ?? "plain")
        } catch let error as ManifestError {
            Console.error(error.description)
            return 2
        }
        if let note { display.note(.info, note) }
        guard args.positionals.count <= 1 else { throw UsageError("run takes at most one pipeline file") }
        let shard: Shard?
        do {
            shard = try Shard.resolve(option: args.options["--shard"], count: args.options["--shards"],
                                      environment: ProcessInfo.processInfo.environment)
        } catch let error as ShardError {
            display.note(.error, error.description)
            return 2
        }
        var threads: Int?
        if let text = args.options["--threads"] {
            guard let n = Int(text), n > 0 else { throw UsageError("--threads must be a positive integer") }
            threads = n
        }
        let pipelinePath = args.positionals.first
        var settings: RunSettings
        do {
            let file = try pipelinePath.map { try PipelineFile.load(path: $0) } ?? PipelineFile()
            settings = try RunSettings(file: file, path: pipelinePath, inputs: inputs, model: args.options["--model"],
                                       output: overrideOutput ?? args.options["--output"], device: args.options["--device"],
                                       threads: threads)
        } catch let error as PipelineError {
            error.lines.forEach { display.note(.error, $0) }
            return 2
        }
        if args.flags.contains("--probabilities") { settings.writeProbabilities = true }
        if args.flags.contains("--no-quicklook") { settings.writeQuicklook = false }

        let fingerprint: RunFingerprint
        do {
            fingerprint = try RunFingerprint(settings: settings)
        } catch {
            display.note(.error, "\(error)")
            return 2
        }
        // The lock comes before loading the model, so that a second run on the folder exits at once.
        let manifest: Manifest
        do {
            manifest = try Manifest.open(outputFolder: settings.outputFolder, fingerprint: fingerprint, restart: args.flags.contains("--restart"),
                                         shard: shard)
        } catch let error as FolderLockedError {
            display.note(.error, error.description)
            return FolderLockedError.exitCode
        } catch let error as FingerprintMismatchError {
            display.note(.error, error.description)
            return 2
        }
        defer { manifest.close() }
        for note in manifest.notes { display.note(.warning, note) }
        if let shard { display.note(.info, "shard \(shard): the scenes whose names hash to \(shard.index) of \(shard.count)") }

        // An unusable model is a configuration error: no scene could run.
        let plan: ModelPlan
        do {
            plan = try ModelPlan(settings: settings)
        } catch let error as ModelError {
            display.note(.error, error.description)
            return 2
        }
        let stop = StopRequest()
        let signals = StopOnSignals(stop: stop, display: display)
        defer { signals.cancel() }
        let outcome = try BatchRunner(plan: plan).run(manifest: manifest, arguments: recordedArguments(words), stop: stop,
                                                      warnings: { display.note(.warning, $0) }, events: display.handle)
        display.end(exitCode: outcome.exitCode)
        if shard != nil, outcome.stoppedBy == nil, outcome.notDone > 0 {
            display.note(.info, "\(outcome.notDone) scene\(outcome.notDone == 1 ? " is" : "s are") not done yet (other shards' or failed): summary.json and report.html are left to the run that finishes the batch")
        }
        if let path = args.options["--metrics"] {
            do {
                try metrics(manifest, exitCode: outcome.exitCode).write(to: path)
            } catch {
                display.note(.error, "\(error)")
            }
        }
        print(report(outcome, folder: settings.outputFolder))
        return outcome.exitCode
    }

    /// The command line `tilerun resume` repeats: without `--restart`, which must not discard the manifest
    /// again, and without the shard, so that a resume picks up whatever every shard left.
    private static func recordedArguments(_ words: [String]) -> [String] {
        var kept: [String] = []
        var i = 0
        while i < words.count {
            let word = words[i]
            i += 1
            if word == "--shard" || word == "--shards" {
                i += 1
            } else if word != "--restart", !word.hasPrefix("--shard=") && !word.hasPrefix("--shards=") {
                kept.append(word)
            }
        }
        return ["run"] + kept
    }

    /// The `--input` values (the option may be given several times, which Arguments does not allow) and
    /// the other words.
    private static func splitInputs(_ words: [String]) throws -> (inputs: [String], rest: [String]) {
        var inputs: [String] = []
        var rest: [String] = []
        var i = 0
        while i < words.count {
            let word = words[i]
            if word == "--input" {
                guard i + 1 < words.count else { throw UsageError("--input needs a value") }
                inputs.append(words[i + 1])
                i += 2
                continue
            }
            if word.hasPrefix("--input=") { inputs.append(String(word.dropFirst("--input=".count))) } else { rest.append(word) }
            i += 1
        }
        return (inputs, rest)
    }

    /// The last line, on standard output: `3 scenes done (1 before this run), 0 failed`.
    private static func report(_ outcome: BatchRunner.Outcome, folder: String) -> String {
        let done = outcome.results.count + outcome.skipped
        var report = "\(done) scene\(done == 1 ? "" : "s") done"
        if outcome.skipped > 0 { report += " (\(outcome.skipped) before this run)" }
        report += ", \(outcome.failures.count) failed"
        if let signal = outcome.stoppedBy {
            report += "; stopped by \(signal == SIGINT ? "SIGINT" : "SIGTERM"), resume with: tilerun resume \(folder)"
        }
        return report
    }

    /// The Prometheus textfile for the folder after this run.
    private static func metrics(_ manifest: Manifest, exitCode: Int32) -> PrometheusTextfile {
        let state = manifest.state
        let folder = URL(fileURLWithPath: manifest.layout.outputFolder).standardized.path
        return PrometheusTextfile(status: ManifestStatus(outputFolder: folder, state: state, lock: .free),
                                  lastSuccess: state.lastSuccess.map { Date(timeIntervalSince1970: $0.at) },
                                  batchSeconds: state.lastFinished?.seconds ?? 0, exitCode: exitCode)
    }
}

/// SIGINT and SIGTERM ask the batch to stop after the tiles in flight. Every checkpoint is synced as it is
/// made, so ending the process anywhere loses nothing: a second signal, or a batch still going 4.5 s after
/// the first, ends it at once with the same exit code.
final class StopOnSignals {
    private var sources: [DispatchSourceSignal] = []

    init(stop: StopRequest, display: ProgressDisplay) {
        for (number, name) in [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")] {
            // The default action would end the process before the source sees the signal.
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if stop.isRequested { _exit(128 + (stop.signal ?? number)) }
                stop.request(signal: number)
                display.note(.warning, "\(name) received: stopping after the tiles in flight; the next run resumes from there")
                DispatchQueue.global().asyncAfter(deadline: .now() + 4.5) { _exit(128 + number) }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Stops listening and restores the default actions.
    func cancel() {
        for source in sources { source.cancel() }
        sources = []
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// `tilerun validate PIPELINE.json`: one line per problem (field and what is wrong); exit 2 when invalid.
enum ValidateCommand {
    static func run(_ words: [String]) throws -> Int32 {
        let args = try Arguments(words, flags: [], options: [])
        guard args.positionals.count == 1, let path = args.positionals.first else {
            throw UsageError("validate needs one pipeline file")
        }
        let report = PipelineValidation.check(path: path)
        for line in report.problems { Console.error(line) }
        for line in report.notes { print(line) }
        if report.problems.isEmpty { print("\(path): valid") }
        return report.problems.isEmpty ? 0 : 2
    }
}
