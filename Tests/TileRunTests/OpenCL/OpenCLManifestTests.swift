import Foundation
@testable import TileRun
import XCTest

/// A device that fails during `tilerun run`: the batch goes on with the CPU kernels, and the failure is in
/// the manifest (journal, status) with the scene that was in flight.
final class OpenCLManifestTests: XCTestCase {
    func testDeviceFailureIsJournaledAndTheRunFinishesOnTheCPU() throws {
        let device = try openCLTestDevice()
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("in"), withIntermediateDirectories: true)
        let scenes = try ["a", "b"].map {
            try PipelineFixtures.writeScene(directory.appendingPathComponent("in/\($0).tif").path, width: 150, height: 100,
                                            value: PipelineFixtures.texture)
        }
        let output = directory.appendingPathComponent("out")
        var settings = try PipelineFixtures.settings(inputs: scenes, output: output, threads: 2)
        settings.device = "opencl:\(device.platformIndex).\(device.deviceIndex)"
        let plan = try ModelPlan(settings: settings)
        // The first batch's first step fails as a lost device reports it.
        try XCTUnwrap(plan.session.backend).injectedFault = (step: 1, error: OpenCLError(-36, "running kernel (injected)"))
        let fingerprint = RunFingerprint(pipeline: try settings.fingerprintFields, modelSHA256: SHA256.hash(Data("model".utf8)),
                                         tilerunVersion: "test")
        let manifest = try Manifest.open(outputFolder: output.path, fingerprint: fingerprint)
        var failures: [String] = []
        let outcome = try BatchRunner(plan: plan).run(manifest: manifest, events: { event in
            if case .deviceFailed(let line) = event { failures.append(line) }
        })
        manifest.close()
        XCTAssertEqual(outcome.failures, [])
        XCTAssertEqual(outcome.results.count, 2)
        XCTAssertEqual(failures.count, 1, "reported once")
        XCTAssertTrue(failures.first?.contains("continuing on the CPU") == true, "\(failures)")

        let status = try ManifestStatus.read(outputFolder: output.path)
        XCTAssertEqual(status.counts.done, 2)
        let recorded = try XCTUnwrap(status.deviceFailures.first)
        XCTAssertEqual(status.deviceFailures.count, 1)
        XCTAssertEqual(recorded.device, plan.device.description)
        XCTAssertEqual(recorded.scene, SceneIdentity.key(for: scenes[0]), "the scene in flight")
        XCTAssertTrue(status.lines.contains { $0.contains("device failed") && $0.contains("finished on the CPU") }, "\(status.lines)")
    }
}
