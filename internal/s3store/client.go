package s3store

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// maxAttempts is how often the SDK tries a request (with its jittered
// exponential backoff) before an error reaches the store. Retries are
// the SDK's; the store adds none of its own.
const maxAttempts = 5

// newClient builds the S3 client from the SDK's default chain (the
// environment, the shared files, a task or instance role) and checks, with
// one request, that the credentials open the bucket. Each way this fails
// gets an error that says what to check. Every operation reports to m and
// h.
func newClient(ctx context.Context, cfg Config, m *metrics, h *health) (*s3.Client, error) {
	// The SDK's client keeps 10 idle connections per host; a rebuild
	// reads indexReadsInFlight pack indexes at once, and uploads run
	// uploadsInFlight × partsInFlight requests.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConnsPerHost = 64
	})
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(httpClient)}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3store: loading the AWS configuration (environment, shared files): %w", err)
	}
	if awsCfg.Region == "" {
		if cfg.Endpoint == "" {
			return nil, errors.New("s3store: no region for AWS S3: set --s3-region or AWS_REGION")
		}
		awsCfg.Region = "us-east-1" // what most S3-compatible servers expect when they do not care
	}
	if awsCfg.Credentials == nil {
		return nil, errNoCredentials(nil)
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, errNoCredentials(err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
		o.RetryMaxAttempts = maxAttempts
		// The store checks what it reads itself: a CRC-32C over each
		// pack's index, and every block against its multihash, with
		// errors that name the pack. The SDK's checks would cover only
		// the GETs that happen to span a whole object.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.APIOptions = append(o.APIOptions, m.count, h.observe)
	})
	_, err = client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(cfg.Bucket)})
	if err == nil {
		return client, nil
	}
	where := "AWS S3 in " + awsCfg.Region
	if cfg.Endpoint != "" {
		where = cfg.Endpoint
	}
	status, answered := httpStatus(err)
	if !answered {
		return nil, fmt.Errorf("s3store: cannot reach %s to open bucket %q (is the endpoint right and up?): %w", where, cfg.Bucket, err)
	}
	switch status {
	case http.StatusNotFound:
		return nil, fmt.Errorf("s3store: bucket %q does not exist at %s: create it, or check --s3-bucket and --s3-endpoint", cfg.Bucket, where)
	case http.StatusForbidden:
		return nil, fmt.Errorf("s3store: access to bucket %q at %s denied: check the credentials (a wrong access key or secret is denied too) and that their policy allows the bucket", cfg.Bucket, where)
	case http.StatusMovedPermanently, http.StatusBadRequest:
		return nil, fmt.Errorf("s3store: bucket %q at %s answered %d: is it in another region than %s (--s3-region)? %w", cfg.Bucket, where, status, awsCfg.Region, err)
	}
	return nil, fmt.Errorf("s3store: opening bucket %q at %s: %w", cfg.Bucket, where, err)
}

func errNoCredentials(err error) error {
	msg := "s3store: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a shared credentials file (AWS_PROFILE), or run with a task or instance role"
	if err == nil {
		return errors.New(msg)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// isNotFound reports whether S3 answered 404.
func isNotFound(err error) bool {
	status, answered := httpStatus(err)
	return answered && status == http.StatusNotFound
}

// httpStatus returns the status S3 answered a failed request with, and
// false when no answer came (the SDK reports a request that could not be
// sent as a response error of status 0).
func httpStatus(err error) (int, bool) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() == 0 {
		return 0, false
	}
	return re.HTTPStatusCode(), true
}
