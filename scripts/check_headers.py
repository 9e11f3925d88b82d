"""Each public header says where its code is: a "// Code: src/..." line (continued on "//   "
lines) whose paths exist; "src/dir/ (a.cc, b.cc)" names files of that folder. Run by
scripts/lint.sh; exits 1 naming each header that breaks the rule."""
import glob
import os
import re
import sys


def code_text(lines):
    start = next((i for i, line in enumerate(lines) if line.startswith("// Code:")), None)
    if start is None:
        return None
    text = lines[start]
    for line in lines[start + 1:]:
        if not line.startswith("//   "):
            break
        text += " " + line[2:]
    return text


def problems(header):
    text = code_text(open(header).read().splitlines())
    if text is None:
        return [f"{header}: no '// Code:' line saying where its code is"]
    out = []
    paths = re.findall(r"src/[\w/.]*\w/?", text)
    if not paths and "none" not in text:
        out.append(f"{header}: its '// Code:' line names no path under src/")
    for path in paths:
        if not os.path.exists(path):
            out.append(f"{header}: '// Code:' names {path}, which does not exist")
    # "src/dir/ (a.cc, b.cc)": each file inside that folder.
    for folder, names in re.findall(r"(src/[\w/]*/) \(([^)]*)\)", text):
        for name in re.findall(r"\b[\w/]+\.cc\b", names):
            if not name.startswith("src/") and not os.path.exists(folder + name):
                out.append(f"{header}: '// Code:' names {folder}{name}, which does not exist")
    return out


def main():
    bad = [p for header in sorted(glob.glob("include/posebatch/*.h")) for p in problems(header)]
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 1
    print("lint: headers: every include/posebatch/*.h names its code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
