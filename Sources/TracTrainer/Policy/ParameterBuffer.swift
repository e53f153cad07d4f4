/// A flat float32 buffer the size of the policy's parameters, allocated once. The policy's weights,
/// their gradients and Adam's moments are each one of these, so an optimizer step is one loop.
public final class ParameterBuffer {
  public let shape: PolicyShape
  public let pointer: UnsafeMutablePointer<Float>
  public var count: Int { shape.parameterCount }

  public init(shape: PolicyShape) {
    self.shape = shape
    pointer = .allocate(capacity: shape.parameterCount)
    pointer.initialize(repeating: 0, count: shape.parameterCount)
  }

  deinit { pointer.deallocate() }

  public var w0: UnsafeMutablePointer<Float> { pointer }
  public var b0: UnsafeMutablePointer<Float> { pointer + shape.hidden * shape.observationDim }
  public var w1: UnsafeMutablePointer<Float> { b0 + shape.hidden }
  public var b1: UnsafeMutablePointer<Float> { w1 + shape.hidden * shape.hidden }
  public var w2: UnsafeMutablePointer<Float> { b1 + shape.hidden }
  public var b2: UnsafeMutablePointer<Float> { w2 + shape.actionDim * shape.hidden }

  public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

  public func copy(from other: ParameterBuffer) {
    precondition(other.shape == shape)
    pointer.update(from: other.pointer, count: count)
  }

  public func zero() { pointer.update(repeating: 0, count: count) }

  /// The values of one tensor, for files and tests.
  public func values(of tensor: PolicyShape.Tensor) -> [Float] {
    Array(UnsafeBufferPointer(start: pointer + tensor.offset, count: tensor.count))
  }

  public func setValues(_ values: [Float], of tensor: PolicyShape.Tensor) {
    precondition(values.count == tensor.count)
    values.withUnsafeBufferPointer {
      (pointer + tensor.offset).update(from: $0.baseAddress!, count: tensor.count)
    }
  }
}
