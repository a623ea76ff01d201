"""Check the ctypes mirror (python/fringewatch/native.py) against include/fringewatch.h: every
struct's members (names, order, types), every enumerator's value and every function's argument
and result types. Exits non-zero naming each difference, so that the header and the binding
cannot drift apart.

Usage: python3 ctypes_mirror.py HEADER NATIVE_PY
"""

import ctypes
import importlib.util
import re
import sys


def load_module(path):
    spec = importlib.util.spec_from_file_location("fringewatch_native_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def c_type(native, text):
    """The ctypes type a C type of the header must be mirrored with."""
    text = " ".join(text.replace("*", " * ").split())
    plain = {
        "double": ctypes.c_double, "bool": ctypes.c_bool, "uint32_t": ctypes.c_uint32,
        "int32_t": ctypes.c_int32, "size_t": ctypes.c_size_t, "const char *": ctypes.c_char_p,
        "void *": ctypes.c_void_p, "char *": ctypes.c_void_p,
        "enum FwStatus": ctypes.c_int32, "void": None,
        "FwProgressCallback": native.PROGRESS_CALLBACK,
        "FwCancelCallback": native.CANCEL_CALLBACK,
        # library-owned strings are taken as void pointers so that they can be freed
        "char * *": ctypes.POINTER(ctypes.c_void_p),
        "const char * *": ctypes.POINTER(ctypes.c_char_p),
        "const char * const *": ctypes.POINTER(ctypes.c_char_p),
        # the detector is opaque: a void pointer
        "const struct FwDetector *": ctypes.c_void_p, "struct FwDetector *": ctypes.c_void_p,
        "struct FwDetector * *": ctypes.POINTER(ctypes.c_void_p),
    }
    if text in plain:
        return plain[text]
    match = re.fullmatch(r"(?:const )?struct (\w+) \*", text)
    if match and hasattr(native, match.group(1)):
        return ctypes.POINTER(getattr(native, match.group(1)))
    raise ValueError(f"no ctypes mirror known for the C type '{text}'")


def split_declaration(declaration):
    """('type', 'name') of 'const char *phase'."""
    match = re.fullmatch(r"(.*?)\s*(\w+)", declaration.strip(), flags=re.S)
    return match.group(1), match.group(2)


def check(header_path, native_path):
    native = load_module(native_path)
    header = strip_comments(open(header_path, encoding="utf-8").read())
    problems = []
    try:
        return compare(native, header, problems)
    except ValueError as error:
        return problems + [str(error)]


def compare(native, header, problems):

    for name, body in re.findall(r"typedef enum (\w+) \{(.*?)\} \1;", header, flags=re.S):
        for enumerator, value in re.findall(r"(\w+) = (-?\d+)", body):
            mirrored = getattr(native, enumerator, None)
            if mirrored != int(value):
                problems.append(f"{name}: {enumerator} is {value} in the header, "
                                f"{mirrored} in the binding")

    structs = re.findall(r"typedef struct (\w+) \{(.*?)\} \1;", header, flags=re.S)
    if not structs:
        problems.append("no struct found in the header")
    for name, body in structs:
        mirror = getattr(native, name, None)
        if mirror is None:
            problems.append(f"struct {name} has no mirror")
            continue
        members = [split_declaration(d) for d in body.split(";") if d.strip()]
        expected = [(member, c_type(native, kind)) for kind, member in members]
        got = list(mirror._fields_)
        if [m for m, _ in expected] != [m for m, _ in got]:
            problems.append(f"struct {name}: members {[m for m, _ in expected]} in the header, "
                            f"{[m for m, _ in got]} in the binding")
            continue
        for (member, want), (_, have) in zip(expected, got):
            if want is not have:
                problems.append(f"struct {name}.{member}: {want.__name__} in the header, "
                                f"{have.__name__} in the binding")

    signatures = native.signatures()
    functions = re.findall(r"([\w ]+?\**)\s*\b(fw_\w+)\(([^)]*)\);", header)
    if not functions:
        problems.append("no function found in the header")
    for result, name, arguments in functions:
        if name not in signatures:
            problems.append(f"{name} is not bound")
            continue
        argtypes, restype = signatures[name]
        declared = [] if arguments.strip() in ("", "void") else [
            c_type(native, split_declaration(a)[0]) for a in arguments.split(",")]
        if len(declared) != len(argtypes):
            problems.append(f"{name}: {len(declared)} arguments in the header, "
                            f"{len(argtypes)} in the binding")
        else:
            for i, (want, have) in enumerate(zip(declared, argtypes)):
                if want is not have:
                    problems.append(f"{name} argument {i + 1}: {want.__name__} in the header, "
                                    f"{have.__name__} in the binding")
        want = c_type(native, result)
        if want is not restype:
            problems.append(f"{name} result: {getattr(want, '__name__', want)} in the header, "
                            f"{getattr(restype, '__name__', restype)} in the binding")
    for name in signatures:
        if name not in {f[1] for f in functions}:
            problems.append(f"{name} is bound but not in the header")
    return problems


def main():
    header_path, native_path = sys.argv[1:3]
    problems = check(header_path, native_path)
    for problem in problems:
        print(problem)
    if problems:
        sys.exit(1)
    print(f"{native_path} mirrors {header_path}")


if __name__ == "__main__":
    main()
