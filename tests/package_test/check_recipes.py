#!/usr/bin/env python3
"""Checks that the Conan recipe and the vcpkg port describe the same package as CMake.

Neither tool runs on our machines, so this checks what can be checked without them:
  - conanfile.py, test_package/conanfile.py parse as Python; vcpkg.json parses as JSON;
  - their versions equal project(VERSION) in CMakeLists.txt (and include/dbsafe/version.hpp);
  - their dependencies are exactly the packages CMake finds (core: top-level CMakeLists.txt,
    zstd: backends/zstd/CMakeLists.txt, sha256: backends/sha256/CMakeLists.txt,
    CLI: tools/CMakeLists.txt),
    each component's only behind its option (with_zstd, with_sha256) / feature (zstd, sha256),
    and the installed config's find_dependency() calls name the same packages;
  - the target names are dbsafe::dbsafe, dbsafe::zstd and dbsafe::sha256, the config path the
    port fixes up is where cmake/install.cmake installs it, and every CMake option the port
    sets exists.

usage: check_recipes.py SOURCE_DIR            check the tree, exit 1 listing every mismatch
       check_recipes.py SOURCE_DIR --self-test  show that each kind of drift is detected
"""
import ast
import json
import re
import sys
from pathlib import Path

# CMake package name -> name of the same dependency in each package manager (None: a system
# library the recipe does not require).
CONAN_NAMES = {"SQLite3": "sqlite3", "Boost": "boost", "nlohmann_json": "nlohmann_json",
               "xxHash": "xxhash", "zstd": "zstd", "OpenSSL": "openssl", "Threads": None,
               "CLI11": "cli11"}
VCPKG_NAMES = {"SQLite3": "sqlite3", "Boost": "boost-outcome", "nlohmann_json": "nlohmann-json",
               "xxHash": "xxhash", "zstd": "zstd", "OpenSSL": "openssl", "Threads": None,
               "CLI11": "cli11"}
TARGETS = {"dbsafe::dbsafe", "dbsafe::zstd", "dbsafe::sha256"}
# Optional components: CMake file that finds their dependencies -> (Conan option, vcpkg feature).
COMPONENTS = {"zstd": ("backends/zstd/CMakeLists.txt", "with_zstd", "zstd"),
              "sha256": ("backends/sha256/CMakeLists.txt", "with_sha256", "sha256")}


def strip_cmake_comments(text):
    return re.sub(r"#[^\n]*", "", text)


def cmake_find_packages(text):
    return {m for m in re.findall(r"find_package\(\s*(\w+)", strip_cmake_comments(text))}


def read_tree(root):
    """Every file the checks look at, as text, keyed by relative path."""
    names = ["CMakeLists.txt", "include/dbsafe/version.hpp", "backends/zstd/CMakeLists.txt",
             "backends/sha256/CMakeLists.txt", "tools/CMakeLists.txt", "cmake/install.cmake",
             "cmake/dbsafeConfig.cmake.in",
             "conanfile.py", "test_package/conanfile.py", "test_package/CMakeLists.txt",
             "ports/dbsafe/vcpkg.json", "ports/dbsafe/portfile.cmake", "ports/dbsafe/usage",
             "README.md"]
    files = {}
    for n in names:
        p = root / n
        files[n] = p.read_text() if p.exists() else None
    return files


def class_attrs(tree):
    """Class-level assignments of the first ConanFile subclass: name -> value (literals)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            attrs = {}
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                        isinstance(stmt.targets[0], ast.Name):
                    try:
                        attrs[stmt.targets[0].id] = ast.literal_eval(stmt.value)
                    except ValueError:
                        pass
            return attrs
    return {}


def calls_with_guards(tree, method):
    """(call, guarded_by_source_of_enclosing_ifs) for every call inside `method`."""
    out = []

    def visit(node, guards):
        if isinstance(node, ast.If):
            inner = guards + [ast.unparse(node.test)]
            for child in node.body:
                visit(child, inner)
            for child in node.orelse:
                visit(child, guards + ["not " + ast.unparse(node.test)])
            return
        if isinstance(node, ast.Call):
            out.append((node, guards))
        for child in ast.iter_child_nodes(node):
            visit(child, guards)

    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == method:
            for stmt in node.body:
                visit(stmt, [])
    return out


def string_args(call):
    return [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]


def check(files):
    errors = []
    err = errors.append
    for name, text in files.items():
        if text is None:
            err(f"{name}: missing")
    if errors:
        return errors

    m = re.search(r"project\(\s*dbsafe\s+VERSION\s+([0-9.]+)", files["CMakeLists.txt"])
    if not m:
        return ["CMakeLists.txt: no project(dbsafe VERSION x.y.z)"]
    version = m.group(1)
    m = re.search(r'#define DBSAFE_VERSION_STRING "([^"]+)"', files["include/dbsafe/version.hpp"])
    if not m or m.group(1) != version:
        err(f"include/dbsafe/version.hpp: DBSAFE_VERSION_STRING is "
            f"{m.group(1) if m else 'missing'}, project(VERSION) is {version}")

    core = cmake_find_packages(files["CMakeLists.txt"])
    optional = {c: cmake_find_packages(files[f]) for c, (f, _, _) in COMPONENTS.items()}
    backend = set().union(*optional.values())  # every optional component's dependencies
    tools = cmake_find_packages(files["tools/CMakeLists.txt"])
    for pkg in sorted(core | backend | tools):
        if pkg not in CONAN_NAMES:
            err(f"CMake finds {pkg}, which check_recipes.py does not know: add it to "
                f"CONAN_NAMES / VCPKG_NAMES and to conanfile.py and ports/dbsafe/vcpkg.json")

    # --- the installed CMake config finds the same dependencies ---
    config = strip_cmake_comments(files["cmake/dbsafeConfig.cmake.in"])
    found = set(re.findall(r"find_dependency\(\s*(\w+)", config))
    if found != core | backend:
        err(f"cmake/dbsafeConfig.cmake.in: find_dependency() for {sorted(found)}, but the build "
            f"finds {sorted(core | backend)}")
    m = re.search(r"set\(DBSAFE_INSTALL_CMAKEDIR\s+\$\{CMAKE_INSTALL_DATADIR\}/([\w/]+)",
                  files["cmake/install.cmake"])
    config_dir = "share/" + m.group(1) if m else None
    if not config_dir:
        err("cmake/install.cmake: no DBSAFE_INSTALL_CMAKEDIR under ${CMAKE_INSTALL_DATADIR}")

    # --- Conan ---
    try:
        tree = ast.parse(files["conanfile.py"], "conanfile.py")
    except SyntaxError as e:
        return errors + [f"conanfile.py: not valid Python: {e}"]
    attrs = class_attrs(tree)
    for key, want in (("name", "dbsafe"), ("version", version),
                      ("package_type", "header-library")):
        if attrs.get(key) != want:
            err(f"conanfile.py: {key} = {attrs.get(key)!r}, expected {want!r}")
    for _, option, _ in COMPONENTS.values():
        if option not in attrs.get("options", {}):
            err(f"conanfile.py: no option {option}")
    requires = {}
    for call, guards in calls_with_guards(tree, "requirements"):
        if ast.unparse(call.func) == "self.requires" and string_args(call):
            requires[string_args(call)[0].split("/")[0]] = guards
    want_core = {CONAN_NAMES[p] for p in core if CONAN_NAMES.get(p)}
    want_optional = {CONAN_NAMES[p] for p in backend if CONAN_NAMES.get(p)}
    if set(requires) != want_core | want_optional:
        err(f"conanfile.py: requires {sorted(requires)}, the CMake package needs "
            f"{sorted(want_core | want_optional)}")
    for component, (_, option, _) in COMPONENTS.items():
        for name in {CONAN_NAMES[p] for p in optional[component] if CONAN_NAMES.get(p)}:
            if name in requires and not any(option in g and not g.startswith("not ")
                                            for g in requires[name]):
                err(f"conanfile.py: {name} must be required only under "
                    f"`if self.options.{option}`")
    for name in want_core & set(requires):
        if requires[name]:
            err(f"conanfile.py: {name} is required only when {requires[name]}; the core needs it")
    props = {}
    component_requires = set()
    for call, guards in calls_with_guards(tree, "package_info"):
        args = string_args(call)
        if ast.unparse(call.func).endswith("set_property") and len(args) == 2:
            props.setdefault(args[0], []).append((args[1], guards))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "requires" for t in node.targets):
            try:
                component_requires |= set(ast.literal_eval(node.value))
            except ValueError:
                pass
    target_names = {v for v, _ in props.get("cmake_target_name", [])}
    if not TARGETS <= target_names:
        err(f"conanfile.py: cmake_target_name {sorted(target_names)} lacks "
            f"{sorted(TARGETS - target_names)}")
    if [v for v, _ in props.get("cmake_file_name", [])] != ["dbsafe"]:
        err("conanfile.py: cmake_file_name must be 'dbsafe' (find_package(dbsafe))")
    for v, guards in props.get("cmake_target_name", []):
        for component, (_, option, _) in COMPONENTS.items():
            if v == f"dbsafe::{component}" and not any(option in g for g in guards):
                err(f"conanfile.py: the dbsafe::{component} component must exist only with "
                    f"{option}")
    for name in want_core | want_optional:
        if not any(r.split("::")[0] == name for r in component_requires):
            err(f"conanfile.py: no component requires {name}::...")
    try:
        ast.parse(files["test_package/conanfile.py"], "test_package/conanfile.py")
    except SyntaxError as e:
        err(f"test_package/conanfile.py: not valid Python: {e}")
    tp = strip_cmake_comments(files["test_package/CMakeLists.txt"])
    for needle in ("find_package(dbsafe CONFIG REQUIRED)",
                   "find_package(dbsafe CONFIG REQUIRED COMPONENTS zstd)",
                   "dbsafe::dbsafe", "dbsafe::zstd"):
        if needle not in tp:
            err(f"test_package/CMakeLists.txt: does not use {needle}")

    # --- vcpkg ---
    try:
        port = json.loads(files["ports/dbsafe/vcpkg.json"])
    except json.JSONDecodeError as e:
        return errors + [f"ports/dbsafe/vcpkg.json: not valid JSON: {e}"]

    def dep_names(deps):
        return {d if isinstance(d, str) else d["name"] for d in deps
                if isinstance(d, str) or not d.get("host")}

    if port.get("name") != "dbsafe":
        err(f"ports/dbsafe/vcpkg.json: name {port.get('name')!r}, expected 'dbsafe'")
    port_version = port.get("version", port.get("version-semver"))
    if port_version != version:
        err(f"ports/dbsafe/vcpkg.json: version {port_version!r}, project(VERSION) is {version}")
    want = {VCPKG_NAMES[p] for p in core if VCPKG_NAMES.get(p)}
    if dep_names(port.get("dependencies", [])) != want:
        err(f"ports/dbsafe/vcpkg.json: dependencies {sorted(dep_names(port.get('dependencies', [])))}"
            f", the CMake package needs {sorted(want)}")
    features = port.get("features", {})
    for component, (_, _, feature) in COMPONENTS.items():
        want = {VCPKG_NAMES[p] for p in optional[component] if VCPKG_NAMES.get(p)}
        if dep_names(features.get(feature, {}).get("dependencies", [])) != want:
            err(f"ports/dbsafe/vcpkg.json: feature {feature} must depend on exactly "
                f"{sorted(want)}")
    want = {VCPKG_NAMES[p] for p in tools if VCPKG_NAMES.get(p)} - dep_names(port["dependencies"])
    if dep_names(features.get("tools", {}).get("dependencies", [])) != want:
        err(f"ports/dbsafe/vcpkg.json: feature tools must depend on exactly {sorted(want)}")
    host = {d["name"] for d in port.get("dependencies", []) if isinstance(d, dict) and d.get("host")}
    if not {"vcpkg-cmake", "vcpkg-cmake-config"} <= host:
        err("ports/dbsafe/vcpkg.json: vcpkg-cmake and vcpkg-cmake-config must be host dependencies")
    portfile = strip_cmake_comments(files["ports/dbsafe/portfile.cmake"])
    for helper in ("vcpkg_cmake_configure", "vcpkg_cmake_install", "vcpkg_cmake_config_fixup"):
        if helper + "(" not in portfile:
            err(f"ports/dbsafe/portfile.cmake: does not call {helper}()")
    m = re.search(r"vcpkg_cmake_config_fixup\(\s*CONFIG_PATH\s+([\w/]+)", portfile)
    if config_dir and (not m or m.group(1) != config_dir):
        err(f"ports/dbsafe/portfile.cmake: vcpkg_cmake_config_fixup(CONFIG_PATH "
            f"{m.group(1) if m else '?'}), but cmake/install.cmake installs to {config_dir}")
    options = set(re.findall(r"option\(\s*(\w+)", files["CMakeLists.txt"] +
                             files["cmake/install.cmake"]))
    used = set(re.findall(r"-D(DBSAFE_\w+)=", portfile))
    m = re.search(r"FEATURES(.*?)\)", portfile, re.S)
    pairs = re.findall(r"(\w+)\s+(DBSAFE_\w+)", m.group(1)) if m else []
    for feature, option in pairs:
        used.add(option)
        if feature not in features:
            err(f"ports/dbsafe/portfile.cmake: feature {feature} is not declared in vcpkg.json")
    for option in sorted(used - options):
        err(f"ports/dbsafe/portfile.cmake: sets {option}, which is no option() of dbsafe")
    usage = files["ports/dbsafe/usage"]
    for needle in ("find_package(dbsafe CONFIG REQUIRED)", "COMPONENTS zstd",
                   "COMPONENTS sha256", *sorted(TARGETS)):
        if needle not in usage:
            err(f"ports/dbsafe/usage: does not mention {needle}")

    readme = files["README.md"]
    for needle in ("conan create", "--overlay-ports", "find_package(dbsafe"):
        if needle not in readme:
            err(f"README.md: does not say how to use the package ({needle!r} missing)")
    return errors


def self_test(files):
    """Each mutation is a drift the check must report; an unmodified tree must pass."""
    def mutate(name, old, new):
        changed = dict(files)
        if old not in changed[name]:
            raise SystemExit(f"self-test: {name} no longer contains {old!r}; update the self-test")
        changed[name] = changed[name].replace(old, new, 1)
        return changed

    version = re.search(r"project\(\s*dbsafe\s+VERSION\s+([0-9.]+)", files["CMakeLists.txt"]).group(1)
    cases = {
        "vcpkg version drift": mutate("ports/dbsafe/vcpkg.json", f'"{version}"', '"9.9.9"'),
        "conan version drift": mutate("conanfile.py", f'version = "{version}"',
                                      'version = "9.9.9"'),
        "conan loses zstd": mutate("conanfile.py", 'self.requires("zstd/', 'print("zstd/'),
        "conan zstd unguarded": mutate("conanfile.py", "if self.options.with_zstd:\n"
                                       '            self.requires("zstd/',
                                       'if True:\n            self.requires("zstd/'),
        "conan target renamed": mutate("conanfile.py", '"dbsafe::zstd"', '"dbsafe::zstd_backend"'),
        "conan openssl unguarded": mutate("conanfile.py", "if self.options.with_sha256:",
                                          "if True:"),  # the first one: requirements()
        "vcpkg sha256 feature loses openssl": mutate("ports/dbsafe/vcpkg.json",
                                                     '"openssl"', '"libressl"'),
        "config forgets openssl": mutate("cmake/dbsafeConfig.cmake.in",
                                         "find_dependency(OpenSSL", "(OpenSSL"),
        "conan syntax error": mutate("conanfile.py", "def package_info(self):",
                                     "def package_info(self)"),
        "vcpkg loses xxhash": mutate("ports/dbsafe/vcpkg.json", '"xxhash",', ""),
        "vcpkg bad json": mutate("ports/dbsafe/vcpkg.json", "{", "{,"),
        "config path drift": mutate("ports/dbsafe/portfile.cmake", "share/cmake/dbsafe",
                                    "share/dbsafe"),
        "new CMake dependency": mutate("CMakeLists.txt", "find_package(Threads REQUIRED)",
                                       "find_package(Threads REQUIRED)\nfind_package(fmt REQUIRED)"),
        "config forgets a dependency": mutate("cmake/dbsafeConfig.cmake.in",
                                              "find_dependency(nlohmann_json", "(nlohmann_json"),
    }
    failures = [] if not check(files) else ["the unmodified tree fails: run without --self-test"]
    for label, changed in cases.items():
        found = check(changed)
        print(f"{label}: {'detected: ' + found[0] if found else 'NOT DETECTED'}")
        if not found:
            failures.append(label)
    return failures


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    files = read_tree(Path(sys.argv[1]))
    if "--self-test" in sys.argv[2:]:
        failures = self_test(files)
        for f in failures:
            print(f"check_recipes.py --self-test: {f}", file=sys.stderr)
        return 1 if failures else 0
    errors = check(files)
    for e in errors:
        print(f"check_recipes.py: {e}", file=sys.stderr)
    if not errors:
        print("conanfile.py, test_package/ and ports/dbsafe/ match the CMake package "
              "(version, dependencies, targets)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
