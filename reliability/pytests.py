"""Run some of Python's own test modules and print one line per test with
its outcome, sorted, then a summary: the output depends only on what the
tests do, never on timing (reliability/realprogs.sh compares it between
runs with and without hakmem).  Debian's python3 and the
libpython3.11-testsuite package; run with PYTHONMALLOC=malloc so that every
object Python allocates comes from the C allocator under test.

usage: python3 pytests.py test.test_dict test.test_list ...
"""
import io
import sys
import unittest

import test.support

test.support.verbose = 0


class Collect(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.buffer = True  # what the tests print is not part of the outcome
        self.lines = []

    def addSuccess(self, t):
        super().addSuccess(t)
        self.lines.append("%s ok" % t.id())

    def addSkip(self, t, reason):
        super().addSkip(t, reason)
        self.lines.append("%s skipped" % t.id())

    def addFailure(self, t, err):
        super().addFailure(t, err)
        self.lines.append("%s FAIL" % t.id())

    def addError(self, t, err):
        super().addError(t, err)
        self.lines.append("%s ERROR" % t.id())

    def addExpectedFailure(self, t, err):
        super().addExpectedFailure(t, err)
        self.lines.append("%s expected-failure" % t.id())

    def addUnexpectedSuccess(self, t):
        super().addUnexpectedSuccess(t)
        self.lines.append("%s unexpected-success" % t.id())


def main():
    suite = unittest.defaultTestLoader.loadTestsFromNames(sys.argv[1:])
    result = Collect()
    suite.run(result)
    for line in sorted(result.lines):
        print(line)
    print("ran %d failures %d errors %d skipped %d" % (result.testsRun, len(result.failures),
                                                      len(result.errors), len(result.skipped)))
    for t, tb in result.failures + result.errors:
        sys.stderr.write("%s\n%s\n" % (t.id(), tb))
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
