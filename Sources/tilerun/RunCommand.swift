import Foundation
import TileRun

/// `tilerun run`: scenes in, georeferenced class maps and statistics out (docs/pipeline-files.md).
enum RunCommand {
    static let usage = """
        tilerun run [PIPELINE.json] [--input FILE|DIR|GLOB|LIST.txt]... [--model M.onnx] [--output DIR] [--device D]
                    [--threads N] [--probabilities] [--no-quicklook] [--progress auto|bar|lines|json|none]
          tilerun validate PIPELINE.json
        """

    static func run(_ words: [String]) throws -> Int32 {
        // --input may be given several times; Arguments keeps one value per option, so collect them first.
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
        let args = try Arguments(rest, flags: ["--probabilities", "--no-quicklook"],
                                 options: ["--model", "--output", "--threads", "--device", "--progress"])
        let progress = try ProgressDisplay(requested: args.options["--progress"] ?? "auto")
        guard args.positionals.count <= 1 else { throw UsageError("run takes at most one pipeline file") }
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
                                       output: args.options["--output"], device: args.options["--device"], threads: threads)
        } catch let error as PipelineError {
            error.lines.forEach(Console.error)
            return 2
        }
        if args.flags.contains("--probabilities") { settings.writeProbabilities = true }
        if args.flags.contains("--no-quicklook") { settings.writeQuicklook = false }
        // An unusable model is a configuration error: no scene could run.
        let plan: ModelPlan
        do {
            plan = try ModelPlan(settings: settings)
        } catch let error as ModelError {
            Console.error(error.description)
            return 2
        }
        let outcome = try BatchRunner(plan: plan).run(events: progress.handle)
        progress.end()
        print("\(outcome.results.count) scene\(outcome.results.count == 1 ? "" : "s") done, \(outcome.failures.count) failed")
        return outcome.exitCode
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
