//===- AttnBase.td - attn dialect definition ---------------*- tablegen -*-===//
//
// The attn dialect: one op states *what* attention to compute (normalizer,
// mask, score modifiers), attributes carry the variant, and passes decide
// how to compute it.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_BASE
#define ATTN_BASE

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Declarative attention variants";
  let description = [{
    The `attn` dialect expresses attention (softmax and its relatives) as a
    single tensor-level operation whose variant is described by attributes:
    a normalizer, a mask expression and a list of score modifiers, plus
    optional regions for arbitrary score and mask functions. The semantics of
    every attribute are those of the project's VARIANTS.md.
  }];
  let useDefaultAttributePrinterParser = 1;
  let extraClassDeclaration = [{
    /// Defined beside the attribute storage classes, which must be complete.
    void registerAttributes();
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

class Attn_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Attn_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

//===----------------------------------------------------------------------===//
// Parameters with bracketed, unambiguous syntax inside `struct(...)` formats.
//===----------------------------------------------------------------------===//

// Floating-point parameters are stored as attributes: a raw `double` has no
// llvm::hash_value, which the attribute storage uniquer needs.
class Attn_F64Parameter<string desc>
    : AttrOrTypeParameter<"::mlir::FloatAttr", desc> {
  let parser = "::mlir::attn::syntax::parseF64($_parser)";
  let printer = "$_printer.printFloat($_self.getValue())";
}

class Attn_OptionalF64Parameter<string desc> : Attn_F64Parameter<desc> {
  let defaultValue = "::mlir::FloatAttr()";
}

class Attn_BoolParameter<string desc, string default = "false">
    : AttrOrTypeParameter<"bool", desc> {
  let parser = "::mlir::attn::syntax::parseBool($_parser)";
  let printer = "$_printer << ($_self ? \"true\" : \"false\")";
  let defaultValue = default;
}

class Attn_I64Parameter<string desc, string default = "">
    : AttrOrTypeParameter<"int64_t", desc> {
  let defaultValue = default;
}

class Attn_F64ArrayParameter<string desc>
    : AttrOrTypeParameter<"::mlir::DenseF64ArrayAttr", desc> {
  let parser = "::mlir::attn::syntax::parseF64Array($_parser)";
  let printer = "::mlir::attn::syntax::printF64Array($_printer, $_self)";
  let defaultValue = "::mlir::DenseF64ArrayAttr()";
}

class Attn_I64ArrayParameter<string desc>
    : OptionalArrayRefParameter<"int64_t", desc> {
  let parser = "::mlir::attn::syntax::parseI64Array($_parser)";
  let printer = "::mlir::attn::syntax::printI64Array($_printer, $_self)";
}

#endif // ATTN_BASE
