"""The CLI's research commands: without the research extra, one line saying how to install it; with it, the real
commands (needs the research package, which Slicer does not ship)."""

import unittest


class ResearchCommandsTest(unittest.TestCase):
    """The research bench's commands without its extra: one line saying how to install it, and exit status 2."""

    def test_a_product_only_install_names_the_extra_in_one_line(self):
        import contextlib
        import io
        from unittest import mock

        from SPECTFewShotLib import cli

        for argv in (["train", "protonet", "--iterations", "1"], ["demo"], ["evaluate", "classify"]):
            err = io.StringIO()
            with mock.patch("SPECTFewShotLib.research.missing_packages", return_value=["matplotlib"]), \
                    contextlib.redirect_stderr(err):
                code = cli.main(argv)
            self.assertEqual(code, 2, argv)
            lines = err.getvalue().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn('pip install "SPECTFewShot[research]"', lines[0])
            self.assertIn(f"'{argv[0]}' is a research command", lines[0])

    def test_with_the_extra_the_research_commands_are_real(self):
        import contextlib
        import io

        from SPECTFewShotLib import cli

        out = io.StringIO()
        with self.assertRaises(SystemExit) as done, contextlib.redirect_stdout(out):
            cli.build_parser().parse_args(["train", "protonet", "--help"])
        self.assertEqual(done.exception.code, 0)
        self.assertIn("--iterations", out.getvalue())


if __name__ == "__main__":
    unittest.main()
