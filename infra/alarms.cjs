/**
 * CloudWatch alarms, generated from serverless.yml so that every function has them, including the next one
 * you add: for each function an Errors alarm and a Throttles alarm, plus one on the dead-letter queue, all
 * notifying one SNS topic (with an e-mail subscription when the `alarmEmail` parameter is set).
 *
 * - Errors: invocations that failed (a thrown error, a timeout). The HTTP handlers answer bad input with 4xx
 *   and unreachable databases with 503, which are responses, not errors: an Errors alarm means a bug.
 * - Throttles: the function hit its reserved concurrency, the cap that keeps its connections inside the
 *   cluster's limit (`npm run budget`). Raise both only together.
 * - Dead-letter queue: a stock update failed `maxReceiveCount` times and waits for someone to look at it.
 *
 * Loaded by the framework as a `${file(...)}` variable (CommonJS, because the framework `require()`s it).
 */
'use strict';

/** Alarm after one failure in five minutes: these functions should never fail. */
const PERIOD_SECONDS = 300;

/** The framework's CloudFormation logical id of a function (`stockConsumer` -> `StockConsumerLambdaFunction`). */
function lambdaLogicalId(functionName) {
  const normalized = functionName.replace(/-/g, 'Dash').replace(/_/g, 'Underscore');
  return `${normalized.charAt(0).toUpperCase()}${normalized.slice(1)}LambdaFunction`;
}

/** An alarm on a metric's sum reaching 1 within one period. */
function sumAlarm({ description, namespace, metricName, dimensions, statistic = 'Sum' }) {
  return {
    Type: 'AWS::CloudWatch::Alarm',
    Properties: {
      AlarmDescription: description,
      Namespace: namespace,
      MetricName: metricName,
      Dimensions: dimensions,
      Statistic: statistic,
      Period: PERIOD_SECONDS,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: 'AlarmTopic' }],
      OKActions: [{ Ref: 'AlarmTopic' }],
    },
  };
}

module.exports = async ({ resolveConfigurationProperty, resolveVariable }) => {
  const functions = (await resolveConfigurationProperty(['functions'])) ?? {};
  const alarmEmail = await resolveVariable('param:alarmEmail');
  const resources = {
    AlarmTopic: {
      Type: 'AWS::SNS::Topic',
      Properties: { KmsMasterKeyId: 'alias/aws/sns' },
    },
    AlarmEmailSubscription: {
      Type: 'AWS::SNS::Subscription',
      Condition: 'AlarmEmailSet',
      Properties: { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: alarmEmail },
    },
    StockDeadLetterQueueAlarm: sumAlarm({
      description: 'A stock update failed every retry and waits in the dead-letter queue',
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['StockDeadLetterQueue', 'QueueName'] } }],
      statistic: 'Maximum',
    }),
  };
  for (const name of Object.keys(functions)) {
    const logicalId = lambdaLogicalId(name);
    const dimensions = [{ Name: 'FunctionName', Value: { Ref: logicalId } }];
    const base = logicalId.replace(/LambdaFunction$/, '');
    resources[`${base}ErrorsAlarm`] = sumAlarm({
      description: `Function ${name} failed (an error or a timeout, not a 4xx/503 answer)`,
      namespace: 'AWS/Lambda',
      metricName: 'Errors',
      dimensions,
    });
    resources[`${base}ThrottlesAlarm`] = sumAlarm({
      description: `Function ${name} was throttled at its reserved concurrency (its connection budget)`,
      namespace: 'AWS/Lambda',
      metricName: 'Throttles',
      dimensions,
    });
  }
  return {
    Resources: resources,
    Outputs: { AlarmTopicArn: { Value: { Ref: 'AlarmTopic' } } },
  };
};
