using System.Collections;
using EventReplay.Hosting;

namespace EventReplay.Tests.Unit.Hosting;

/// <summary><c>NAME_FILE=/path</c> sets the setting NAME to the file's content.</summary>
public class SecretFilesTests
{
    private string _directory = null!;

    [SetUp]
    public void MakeDirectory() => _directory = Directory.CreateTempSubdirectory("secret-files-").FullName;

    [TearDown]
    public void RemoveDirectory() => Directory.Delete(_directory, recursive: true);

    [Test]
    public void A_file_variable_sets_its_setting_to_the_content_without_the_final_line_break()
    {
        var url = Path.Combine(_directory, "amqp");
        File.WriteAllText(url, "amqp://er-producer:password@mq:5672/\n");
        var password = Path.Combine(_directory, "password");
        File.WriteAllText(password, "two\nlines\r\n");

        var settings = SecretFiles.Read(new Hashtable
        {
            ["ConnectionStrings__rabbitmq_FILE"] = url,
            ["Auth__Password_FILE"] = password,
            ["PATH"] = "/usr/bin",
            ["_FILE"] = url,
            ["Section__Empty_FILE"] = "",
            // Another program's: not a setting of ours (no section), and its file need not exist.
            ["TF_CLI_CONFIG_FILE"] = Path.Combine(_directory, "missing"),
        });

        Assert.That(settings, Is.EquivalentTo(new Dictionary<string, string?>
        {
            ["ConnectionStrings:rabbitmq"] = "amqp://er-producer:password@mq:5672/",
            ["Auth:Password"] = "two\nlines",
        }));
    }

    [Test]
    public void A_file_that_cannot_be_read_stops_the_start_and_is_named()
    {
        var missing = Path.Combine(_directory, "missing");

        var failure = Assert.Throws<InvalidOperationException>(() => SecretFiles.Read(new Hashtable { ["ConnectionStrings__redis_FILE"] = missing }));

        Assert.That(failure!.Message, Does.Contain("ConnectionStrings__redis_FILE").And.Contain(missing));
    }
}
