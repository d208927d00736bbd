/// A model or tensor file that cannot be used: always one line, naming the file and the problem.
public struct ModelError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file the problem is in (as the caller named it), or the source name given for in-memory bytes.
    public let path: String
    /// What went wrong, in one line.
    public let problem: String

    public init(path: String, problem: String) {
        self.path = path
        // Problems may quote names or values from the file; the contract is one line.
        self.problem = problem.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\t" })
            .joined(separator: " ")
    }

    public var description: String { "\(path): \(problem)" }
}
