import Foundation
import TileRun
import XCTest

final class PipelineFileTests: XCTestCase {
    private func problems(_ json: String) -> [String] {
        let (file, problems) = PipelineFile.decode(Data(json.utf8))
        return problems.map(\.description) + (file?.problems().map(\.description) ?? [])
    }

    func testAFullFileDecodesAndPathsResolveAgainstItsFolder() throws {
        let json = """
            {"inputs": ["scenes/", "more/*.tif"], "model": "../models/m.onnx", "bands": [3, 2, 1],
             "normalization": {"scale": 0.00392156862745098, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
             "tileSize": 256, "overlap": 32, "blending": "center", "batch": 4, "threads": 2, "output": "out",
             "outputs": {"probabilities": true}}
            """
        XCTAssertEqual(problems(json), [])
        let file = try XCTUnwrap(PipelineFile.decode(Data(json.utf8)).file)
        let settings = try RunSettings(file: file, path: "/data/pipelines/p.json", output: "/tmp/elsewhere", threads: 8)
        XCTAssertEqual(settings.inputs, ["/data/pipelines/scenes", "/data/pipelines/more/*.tif"])
        XCTAssertEqual(settings.modelPath, "/data/models/m.onnx")
        XCTAssertEqual(settings.outputFolder, "/tmp/elsewhere", "the command line overrides the file")
        XCTAssertEqual(settings.threads, 8)
        XCTAssertEqual(settings.blending, .center)
        XCTAssertEqual(settings.bands, [3, 2, 1])
        XCTAssertEqual(settings.batch, 4)
        XCTAssertTrue(settings.writeProbabilities)
        let overridden = try RunSettings(file: file, path: "/data/pipelines/p.json", inputs: ["a.tif"], model: "m2.onnx")
        XCTAssertEqual(overridden.inputs, ["a.tif"])
        XCTAssertEqual(overridden.modelPath, "m2.onnx")
        let relative = try RunSettings(file: file, path: "pipelines/p.json")
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        XCTAssertEqual(relative.modelPath, cwd.appendingPathComponent("models/m.onnx").standardized.path)
        XCTAssertEqual(relative.outputFolder, cwd.appendingPathComponent("pipelines/out").standardized.path)
    }

    func testEachProblemNamesItsField() {
        XCTAssertEqual(problems(#"{"inputs": ["a.tif"], "model": "m.onnx", "output": "o", "tilesize": 256}"#),
                       ["field 'tilesize': unknown field (known: bands, batch, blending, device, inputs, model, normalization, output, outputs, overlap, pairPattern, pairs, threads, tileSize)"])
        XCTAssertEqual(problems(#"{"inputs": "a.tif", "model": "m.onnx", "output": "o"}"#), ["field 'inputs': expected a list"])
        XCTAssertEqual(problems(#"{"inputs": ["a.tif"], "model": "m.onnx", "output": "o", "tileSize": "big"}"#),
                       ["field 'tileSize': expected a whole number"])
        XCTAssertEqual(problems(#"{"inputs": ["a.tif"], "model": "m.onnx", "output": "o", "normalization": {"std": [1, "x"]}}"#),
                       ["field 'normalization.std[1]': expected a number"])
        let values = problems("""
            {"inputs": [], "model": "m.onnx", "bands": [0, 2], "tileSize": 64, "overlap": 64, "blending": "gaussian",
             "batch": 0, "threads": -1, "normalization": {"scale": 0, "std": [1, 0]}, "outputs": {"probabilites": true}}
            """)
        XCTAssertEqual(values, ["field 'outputs.probabilites': unknown field (known: probabilities, quicklook)"])
        let semantic = problems("""
            {"inputs": [], "model": "m.onnx", "bands": [0, 2], "tileSize": 64, "overlap": 64, "blending": "gaussian",
             "batch": 0, "threads": -1, "normalization": {"scale": 0, "std": [1, 0]}}
            """)
        XCTAssertEqual(semantic, [
            "field 'inputs': must list at least one file, folder or glob",
            "field 'output': is required (the output folder)",
            "field 'bands[0]': 0 is not a 1-based band number",
            "field 'normalization.scale': 0.0 must be a positive number",
            "field 'normalization.std[1]': 0.0 must be a positive number",
            "field 'overlap': 64 must be smaller than tileSize 64",
            "field 'blending': 'gaussian' is not one of \"hann\", \"center\"",
            "field 'batch': 0 must be from 1 to 256 tiles",
            "field 'threads': -1 must be from 1 to 1024",
        ])
        XCTAssertEqual(problems("[1]"), ["expected a JSON object at the top level"])
        XCTAssertTrue(problems("{\"inputs\": [").first?.hasPrefix("not valid JSON") == true)
    }

    func testTheDemoPipelineIsWellFormed() throws {
        let path = SharedData.packageRoot.appendingPathComponent("pipelines/landcover-demo.json").path
        let file = try PipelineFile.load(path: path)
        XCTAssertEqual(file.problems(), [])
        let settings = try RunSettings(file: file, path: path)
        XCTAssertEqual(settings.inputs, [SharedData.packageRoot.appendingPathComponent("sample-data/landcover-1.tif").standardized.path])
        XCTAssertEqual(settings.modelPath, SharedData.packageRoot.appendingPathComponent("models/landcover-demo.onnx").standardized.path)
    }

    func testValidateCommandReportsOneLinePerProblemAndExitsTwo() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("bad.json").path
        try Data(#"{"inputs": ["nothing-here/*.tif"], "model": "m.onnx", "output": "o", "tileSize": 8, "blending": "x"}"#.utf8)
            .write(to: URL(fileURLWithPath: bad))
        var result = try TileRunBinary.run(["validate", bad])
        XCTAssertEqual(result.status, 2)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, ["tilerun: \(bad): field 'tileSize': 8 must be from 16 to 8192 pixels",
                               "tilerun: \(bad): field 'blending': 'x' is not one of \"hann\", \"center\""])

        let model = try PipelineFixtures.model()
        let scene = try PipelineFixtures.writeScene(dir.appendingPathComponent("s.tif").path, width: 20, height: 20,
                                                    value: PipelineFixtures.texture)
        let missing = dir.appendingPathComponent("missing.json").path
        try Data(#"{"inputs": ["s.tif", "none/*.tif"], "model": "nope.onnx", "output": "o"}"#.utf8).write(to: URL(fileURLWithPath: missing))
        result = try TileRunBinary.run(["validate", missing])
        XCTAssertEqual(result.status, 2)
        XCTAssertTrue(result.stderr.contains("field 'model': \(dir.appendingPathComponent("nope.onnx").path) does not exist"), result.stderr)
        XCTAssertTrue(result.stderr.contains("field 'inputs[1]':"), result.stderr)
        XCTAssertFalse(result.stderr.contains("inputs[0]"), result.stderr)

        let good = dir.appendingPathComponent("good.json").path
        try Data(#"{"inputs": ["\#(scene)"], "model": "\#(model)", "output": "out"}"#.utf8).write(to: URL(fileURLWithPath: good))
        result = try TileRunBinary.run(["validate", good])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stderr, "")
    }
}
