/// A failure reading or writing one raster file: always one line, naming the file and the problem.
public struct RasterError: Error, CustomStringConvertible, Equatable {
    /// The file the problem is in.
    public let path: String
    /// What went wrong, in one line.
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        // Messages from C libraries may carry newlines or tabs; the contract is one line.
        self.problem = problem.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\t" })
            .joined(separator: " ")
    }

    public var description: String { "\(path): \(problem)" }
}
