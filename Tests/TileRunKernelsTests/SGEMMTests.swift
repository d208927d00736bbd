import XCTest
import TileRunKernels

final class SGEMMTests: XCTestCase {
    struct Case: CustomStringConvertible {
        var transA = false, transB = false
        var m: Int, n: Int, k: Int
        var alpha: Float = 1, beta: Float = 0
        /// Extra leading-dimension padding, to catch code that assumes packed matrices.
        var padding = 0

        var description: String {
            "\(transA ? "Aᵀ" : "A")·\(transB ? "Bᵀ" : "B") m\(m) n\(n) k\(k) alpha \(alpha) beta \(beta) pad \(padding)"
        }
    }

    func check(_ c: Case, seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
        var rng = SeededGenerator(seed: seed)
        let lda = (c.transA ? c.m : c.k) + c.padding, ldb = (c.transB ? c.k : c.n) + c.padding, ldc = c.n + c.padding
        let a = rng.floats((c.transA ? c.k : c.m) * lda), b = rng.floats((c.transB ? c.n : c.k) * ldb)
        // With beta 0, C starts as NaN: sgemm must not read it.
        let c0 = c.beta == 0 ? [Float](repeating: .nan, count: c.m * ldc) : rng.floats(c.m * ldc)
        var expected = c0
        referenceGemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a, lda: lda,
                      b: b, ldb: ldb, beta: c.beta, c: &expected, ldc: ldc)
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            var out = c0
            sgemm(transA: c.transA, transB: c.transB, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: c.beta, c: &out, ldc: ldc, threads: threads)
            results.append(out)
        }
        // Padding columns of C must be left alone (NaN stays NaN, values stay).
        for i in 0..<c.m {
            for j in c.n..<ldc where !(results[0][i * ldc + j].bitPattern == c0[i * ldc + j].bitPattern) {
                XCTFail("wrote C[\(i), \(j)] outside n: \(c)", file: file, line: line)
                return
            }
        }
        let inside = { (x: [Float]) in (0..<c.m).flatMap { i in x[(i * ldc)..<(i * ldc + c.n)] } }
        XCTAssertLessThanOrEqual(relativeError(inside(results[0]), inside(expected)), 1e-4, "\(c)",
                                 file: file, line: line)
        for t in 1..<3 {
            XCTAssertTrue(results[t].elementsEqual(results[0]) { $0.bitPattern == $1.bitPattern },
                          "\(t + 1) threads differ from 1: \(c)", file: file, line: line)
        }
    }

    func testShapesAndTransposes() {
        let shapes: [(Int, Int, Int)] = [(1, 1, 1), (7, 13, 5), (6, 16, 3), (4, 32, 8), (37, 50, 300), (200, 33, 17),
                                         (250, 70, 40), (1, 1000, 64), (130, 1, 90), (64, 64, 520)]
        var seed: UInt64 = 1
        for (m, n, k) in shapes {
            for transA in [false, true] {
                for transB in [false, true] {
                    check(Case(transA: transA, transB: transB, m: m, n: n, k: k, padding: Int(seed % 3)), seed: seed)
                    seed += 1
                }
            }
        }
    }

    func testAlphaBeta() {
        let scalars: [(Float, Float)] = [(1, 1), (0.5, -2), (-1.5, 0), (2, 0.25), (0, 3), (0, 0)]
        for (index, (alpha, beta)) in scalars.enumerated() {
            check(Case(m: 45, n: 40, k: 270, alpha: alpha, beta: beta, padding: 2), seed: UInt64(100 + index))
            check(Case(transA: true, m: 9, n: 19, k: 0, alpha: alpha, beta: beta), seed: UInt64(200 + index))
        }
    }

    /// Large enough for several row and column items and reduction passes (1, 2 and 3 threads split it
    /// differently).
    func testLargeDeterministic() {
        check(Case(m: 300, n: 260, k: 600, alpha: 1, beta: 0.5), seed: 9)
    }
}
